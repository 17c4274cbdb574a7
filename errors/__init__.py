"""One exception type for user errors, so the CLI prints one line and exits 2 without a traceback."""
from __future__ import annotations

import os


class UserError(Exception):
    """A problem the user can fix: bad config, a missing file, an unknown name.

    The message names the file, the field and what is wrong; `exit_code` is what the CLI returns.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DeviceError(Exception):
    """A device failed (unreachable, link dropped, runner crashed): the job becomes an error row."""

    def __init__(self, device: str, message: str) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device
        self.reason = message

    # pickled whole: a device farm sends it from the agent to the coordinator
    def __reduce__(self) -> tuple[type[DeviceError], tuple[str, str]]:
        return (type(self), (self.device, self.reason))


# Control characters (C0, DEL, C1) and the Unicode marks that reorder or hide text on a terminal.
_UNSAFE = {c for c in range(0x20)} | {0x7F} | set(range(0x80, 0xA0)) | {
    0x200B, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
    0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF,
}
MAX_ECHO = 200


def unsafe(text: str) -> bool:
    """Whether `text` holds a control character or a mark that reorders text on a terminal."""
    return any(ord(c) in _UNSAFE for c in text)


def escape(text: str, *, backslash: bool = True) -> str:
    """`text` with every control character and terminal escape written as `\\xNN`/`\\uNNNN`, so a
    hostile name cannot move the cursor, recolour the terminal or fake a line of output.
    `backslash` doubles backslashes too, so an escape the user typed is not mistaken for one we wrote."""
    if not any(ord(c) in _UNSAFE or (backslash and c == "\\") for c in text):
        return text
    out = []
    for c in text:
        o = ord(c)
        if backslash and c == "\\":
            out.append("\\\\")
        elif o in _UNSAFE:
            named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c)
            out.append(named or (f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"))
        else:
            out.append(c)
    return "".join(out)


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """At most `limit` characters of `text`, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def clean(value: object, limit: int = MAX_ECHO) -> str:
    """A user value for a terminal or an error line: escaped, then bounded (unquoted)."""
    if isinstance(value, (list, tuple, dict, set)):  # never repr a structure (an alias bomb is exponential)
        return f"<a {type(value).__name__} of {len(value)} items>"
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = value if isinstance(value, str) else repr(value)
    escaped = escape(text[: limit * 4])  # do not escape megabytes to keep 200 characters
    if len(text) <= limit * 4 and len(escaped) <= limit:
        return escaped
    return f"{escaped[:limit]}… ({len(text)} characters)"


def quote(value: object, limit: int = MAX_ECHO) -> str:
    """A user value quoted for an error message: `'name'`, escaped and bounded to ~`limit` characters."""
    return f"'{clean(value, limit)}'"


def one_message(text: str, *, max_lines: int = 3, line_limit: int = 400) -> str:
    """The last guard before the terminal: escape control characters and bound an error to
    `max_lines` lines of `line_limit` characters, whatever a message built from user input holds."""
    lines = [escape(line, backslash=False) for line in str(text).strip().splitlines()[:max_lines]] or ["(no message)"]
    return "\n".join(shorten(line, line_limit) for line in lines)
