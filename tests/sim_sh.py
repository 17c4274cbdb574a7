"""A POSIX shell language for simulators: the quoting, expansion and control rules of Android's
/system/bin/sh (mksh), with commands supplied by a subclass over a simulated file system.

Behaviours checked against the real programs on this host (mksh 59c from Debian's `mksh` package,
dash, bash; tests/test_sim_sh.py runs the same lines through real mksh and this shell):
- single quotes keep everything literal; double quotes keep globs literal but expand `$`, `$(..)`,
  backquotes; a backslash outside quotes makes the next character literal;
- unquoted expansions are split on IFS whitespace; an unquoted, unexpanded-to-nothing word drops;
- unquoted `*`, `?`, `[..]` expand to the sorted matching paths; with no match the word stays as
  written (mksh, dash and bash without nullglob all do this); a quoted `*` is never expanded;
- `;`, `&&`, `||`, `|` (status of the last command, no pipefail), `!`, `&`, `( )`, `{ }`, `for`,
  `if`, `while`/`until`, `case`, `break`/`continue`, redirections `<`, `>`, `>>`, `N>`, `N>&M`,
  /dev/null; `$?`, `$#`, `$@`, `"$@"`, `$*`, `$0..$9`, `${x}`, `${x:-w}`, `${x-w}`, `${#x}`,
  `${x#p}`, `${x##p}`, `${x%p}`, `${x%%p}`;
- exit codes: 127 and "NAME: inaccessible or not found" for a missing command (mksh's words),
  126 for a file that cannot be executed, 1 for a syntax error in `sh -c` (mksh; dash and bash say 2),
  `exit N`.
Not supported (reported on stderr with status 2, never silently run): here-documents, `$((..))`,
functions. Pipelines run their commands one after the other (the simulated commands are not
streams), which gives the same output and status for the commands a harness sends.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable

from tests.sim_sh_builtins import Builtins
from tests.sim_sh_syntax import (
    _NAME,
    IO,
    Parser,
    ShExit,
    ShSyntaxError,
    Sink,
    Unsupported,
    _Break,
    _skip_quoted,
    has_glob,
    lex,
    pattern_regex,
)

__all__ = ["IO", "ShExit", "ShSyntaxError", "Shell", "Unsupported"]


# ---- the shell --------------------------------------------------------------------------------

class Shell(Builtins):
    """Runs a command line. Subclasses give `command()` (external commands) and the file system hooks."""

    name = "sh"  # how error messages name the shell ($0)

    def __init__(self, out: Sink, err: Sink, args: list[str] | None = None) -> None:
        self.io = IO(None, out, err)
        self.vars: dict[str, str] = {"IFS": " \t\n", "PATH": "/system/bin:/system/xbin", "HOME": "/"}
        self.args = list(args or [])
        self.arg0 = self.name
        self.status = 0
        self.cwd = "/"

    # -- hooks ----------------------------------------------------------------------------------
    def command(self, argv: list[str], io: IO) -> int | None:
        """Run an external command; None when there is no such command (the shell answers 127)."""
        return None

    def listdir(self, path: str) -> list[str] | None:
        """Names in a directory of the simulated file system, None when it is not a readable directory."""
        return None

    def read_file(self, path: str) -> bytes | None:
        return None

    def write_file(self, path: str, data: bytes, append: bool) -> bool:
        return False

    def file_test(self, op: str, path: str) -> bool:
        """`test` unary file operators: -e -f -d -r -w -x -s."""
        return False

    def subshell(self) -> Shell:
        sub = type(self).__new__(type(self))
        sub.__dict__.update(self.__dict__)
        sub.vars = dict(self.vars)
        sub.args = list(self.args)
        return sub

    # -- entry ----------------------------------------------------------------------------------
    def run(self, src: str) -> int:
        try:
            tree = Parser(lex(src)).program()
        except ShSyntaxError as exc:
            self.io.err(f"{self.arg0}: syntax error: {exc}\n".encode())
            return 1
        except Unsupported as exc:
            self.io.err(f"{self.arg0}: simulator does not support {exc}\n".encode())
            return 2
        try:
            return self.run_list(tree, self.io)
        except ShExit as e:
            return e.code & 0xFF
        except Unsupported as exc:
            self.io.err(f"{self.arg0}: simulator does not support {exc}\n".encode())
            return 2
        except _Break:
            return self.status

    def abs_path(self, path: str) -> str:
        if path.startswith("/"):
            return path
        return (self.cwd.rstrip("/") + "/" + path) if path else self.cwd

    # -- execution ------------------------------------------------------------------------------
    def run_list(self, items: list, io: IO) -> int:
        for node, bg in items:
            if bg:
                sub = self.subshell()
                threading.Thread(target=_quiet, args=(sub.run_node, node, io), daemon=True).start()
                self.status = 0
                self.vars["!"] = "4242"
            else:
                self.status = self.run_node(node, io)
        return self.status

    def run_node(self, node: tuple, io: IO) -> int:
        kind = node[0]
        if kind == "andor":
            status = 0
            for op, pipe in node[1]:
                if (op == "&&" and status != 0) or (op == "||" and status == 0):
                    continue
                status = self.status = self.run_node(pipe, io)
            return status
        if kind == "pipeline":
            cmds, negate = node[1], node[2]
            stdin = io.stdin
            status = 0
            for k, cmd in enumerate(cmds):
                last = k == len(cmds) - 1
                buf = bytearray()
                sub_io = IO(stdin, io.out if last else buf.extend, io.err)
                status = self.run_node(cmd, sub_io) if last else self.subshell().run_node(cmd, sub_io)
                stdin = bytes(buf)
            return (0 if status else 1) if negate else status
        if kind == "redir":
            sub_io = self.apply_redirs(node[2], io)
            if sub_io is None:
                return 1
            try:
                return self.run_node(node[1], sub_io)
            finally:
                self.flush(sub_io)
        if kind == "simple":
            return self.run_simple(node, io)
        if kind == "group":
            return self.run_list(node[1], io)
        if kind == "subshell":
            sub = self.subshell()
            try:
                return sub.run_list(node[1], io)
            except ShExit as e:
                return e.code
        if kind == "if":
            for cond, body in node[1]:
                if self.run_list(cond, io) == 0:
                    return self.run_list(body, io)
            return self.run_list(node[2], io) if node[2] is not None else 0
        if kind == "for":
            words = self.expand_words(node[2]) if node[2] is not None else list(self.args)
            status = 0
            for w in words:
                self.vars[node[1]] = w
                try:
                    status = self.run_list(node[3], io)
                except _Break as b:
                    if b.n > 1:
                        raise _Break(b.kind, b.n - 1) from None
                    if b.kind == "break":
                        break
            return status
        if kind == "while":
            status = 0
            while (self.run_list(node[1], io) == 0) != node[3]:
                try:
                    status = self.run_list(node[2], io)
                except _Break as b:
                    if b.n > 1:
                        raise _Break(b.kind, b.n - 1) from None
                    if b.kind == "break":
                        break
            return status
        if kind == "case":
            word = self.expand_string(node[1])
            for pats, body in node[2]:
                if any(re.fullmatch(pattern_regex(self.expand_chunks(p)), word, re.DOTALL) for p in pats):
                    return self.run_list(body, io)
            return 0
        raise Unsupported(kind)

    def apply_redirs(self, redirs: list, io: IO) -> IO | None:
        new = IO(io.stdin, io.out, io.err)
        fds: dict[int, object] = {0: io.stdin, 1: io.out, 2: io.err}
        for fd, op, target_raw in redirs:
            target = self.expand_string(target_raw)
            if op in (">&", "<&"):
                if target == "-":
                    fds[fd] = (lambda _b: None)
                elif target.isdigit() and int(target) in fds:
                    fds[fd] = fds[int(target)]
                else:
                    io.err(f"{self.arg0}: {target}: bad file descriptor\n".encode())
                    return None
            elif op == "<":
                data = b"" if target == "/dev/null" else self.read_file(self.abs_path(target))
                if data is None:
                    io.err(f"{self.arg0}: can't open {target}: No such file or directory\n".encode())
                    return None
                fds[fd] = data
            else:
                if target == "/dev/null":
                    fds[fd] = (lambda _b: None)
                    continue
                path = self.abs_path(target)
                if not self.write_file(path, b"", op == ">>"):
                    io.err(f"{self.arg0}: can't create {target}: No such file or directory\n".encode())
                    return None
                buf = bytearray()
                new.files.append((path, buf, True))
                fds[fd] = buf.extend
        new.stdin = fds[0] if isinstance(fds[0], (bytes, type(None))) else io.stdin  # type: ignore[assignment]
        new.out, new.err = fds[1], fds[2]  # type: ignore[assignment]
        return new

    def flush(self, io: IO) -> None:
        for path, data, append in io.files:
            self.write_file(path, bytes(data), append)

    def run_simple(self, node: tuple, io: IO) -> int:
        _, assigns, words, redirs = node
        argv = self.expand_words(words)
        values = [(name, self.expand_string(value)) for name, value in assigns]
        sub_io = self.apply_redirs(redirs, io) if redirs else io
        if sub_io is None:
            return 1
        try:
            if not argv:
                self.vars.update(values)
                return self.status if any("$(" in v or "`" in v for _, v in assigns) else 0
            saved = {n: self.vars.get(n) for n, _ in values}
            self.vars.update(values)
            try:
                return self.execute(argv, sub_io)
            finally:
                for n, old in saved.items():
                    if old is None:
                        self.vars.pop(n, None)
                    else:
                        self.vars[n] = old
        finally:
            if sub_io is not io:
                self.flush(sub_io)

    def execute(self, argv: list[str], io: IO) -> int:
        name = argv[0]
        builtin = None
        if name in (":", "[") or _NAME.fullmatch(name):
            builtin = getattr(self, "b_" + {":": "colon", "[": "test"}.get(name, name), None)
        if builtin is not None:
            return builtin(argv, io)
        code = self.command(argv, io)
        if code is None:
            io.err(f"{self.arg0}: {name}: inaccessible or not found\n".encode())
            return 127
        return code

    # -- expansion ------------------------------------------------------------------------------
    def expand_words(self, words: list[str]) -> list[str]:
        out: list[str] = []
        for w in words:
            for chunks in self.expand_fields(w):
                if has_glob(chunks):
                    found = self.glob(chunks)
                    if found:
                        out.extend(found)
                        continue
                out.append("".join(t for t, _ in chunks))
        return out

    def expand_string(self, word: str) -> str:
        """Expansion without splitting or globbing (redirection targets, assignments, case words)."""
        return "".join(t for t, _ in self.expand_chunks(word))

    def expand_chunks(self, word: str) -> list[tuple[str, bool]]:
        fields = self.expand_fields(word, split=False)
        return [c for f in fields for c in f]

    def expand_fields(self, word: str, split: bool = True) -> list[list[tuple[str, bool]]]:
        """A word -> fields of (text, quoted) chunks, after quote removal and parameter/command expansion."""
        fields: list[list[tuple[str, bool]]] = [[]]
        keep = [False]  # whether each field must stay even if empty (it had quotes)

        def add(text: str, quoted: bool) -> None:
            fields[-1].append((text, quoted))
            if quoted:
                keep[-1] = True

        def add_unquoted(text: str) -> None:
            if not split:
                add(text, False)
                return
            ifs = self.vars.get("IFS", " \t\n")
            pieces = re.split("[" + re.escape(ifs) + "]+", text) if ifs else [text]
            for k, piece in enumerate(pieces):
                if k:
                    fields.append([])
                    keep.append(False)
                add(piece, False)

        i = 0
        while i < len(word):
            c = word[i]
            if c == "'":
                j = word.index("'", i + 1)
                add(word[i + 1:j], True)
                i = j + 1
            elif c == "\\":
                add(word[i + 1:i + 2], True)
                i += 2
            elif c == '"' and word[i:i + 4] == '"$@"' and not self.args:
                i += 4  # "$@" with no arguments is no field at all
            elif c == '"':
                j = _skip_quoted(word, i) - 1
                self._double(word[i + 1:j], fields, keep, add)
                i = j + 1
            elif c == "$" or c == "`":
                j, value, multi = self._dollar(word, i)
                if multi is not None:
                    for k, piece in enumerate(multi):
                        if k:
                            fields.append([])
                            keep.append(False)
                        add_unquoted(piece)
                elif value is None:
                    add("$", False)
                else:
                    add_unquoted(value)
                i = j
            else:
                add(c, False)
                i += 1
        return [f for f, k in zip(fields, keep) if k or any(t for t, _ in f)]

    def _double(self, inner: str, fields: list, keep: list, add: Callable[[str, bool], None]) -> None:
        add("", True)
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner) and inner[i + 1] in '$`"\\\n':
                add(inner[i + 1], True)
                i += 2
            elif c in "$`":
                if inner.startswith("$@", i):  # "$@": one field per argument
                    for k, a in enumerate(self.args):
                        if k:
                            fields.append([])
                            keep.append(True)
                        add(a, True)
                    i += 2
                    continue
                j, value, multi = self._dollar(inner, i)
                add("$" if value is None and multi is None else (" ".join(multi) if multi is not None else value),
                    True)
                i = j
            else:
                add(c, True)
                i += 1

    def _dollar(self, s: str, i: int) -> tuple[int, str | None, list[str] | None]:
        """Expand the `$...` or backquote at s[i]: (end, value, fields for unquoted $@/$*)."""
        if s[i] == "`":
            j = _skip_quoted(s, i)
            return j, self._command_subst(re.sub(r"\\([$`\\])", r"\1", s[i + 1:j - 1])), None
        if s.startswith("$((", i):
            raise Unsupported("$((...)) arithmetic")
        if s.startswith("$(", i):
            j = _skip_quoted(s, i)
            return j, self._command_subst(s[i + 2:j - 1]), None
        if s.startswith("${", i):
            j = _skip_quoted(s, i)
            return j, self._brace(s[i + 2:j - 1]), None
        if i + 1 >= len(s):
            return i + 1, None, None
        c = s[i + 1]
        if c in "@*":
            return i + 2, None, list(self.args)
        if c in "?#$!0123456789-":
            return i + 2, self._special(c), None
        m = _NAME.match(s, i + 1)
        if not m:
            return i + 1, None, None
        return m.end(), self.vars.get(m.group(0), ""), None

    def _special(self, c: str) -> str:
        if c == "?":
            return str(self.status)
        if c == "#":
            return str(len(self.args))
        if c == "0":
            return self.arg0
        if c.isdigit():
            return self.args[int(c) - 1] if int(c) <= len(self.args) else ""
        if c == "$":
            return "4242"
        if c == "!":
            return self.vars.get("!", "")
        return ""

    def _brace(self, body: str) -> str:
        if body.startswith("#") and len(body) > 1:
            return str(len(self._brace(body[1:])))
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#@*$!])(.*)", body, re.DOTALL)
        if not m:
            raise ShSyntaxError(f"${{{body}}}: bad substitution")
        name, rest = m.group(1), m.group(2)
        if name.isdigit() or name in "?#@*$!":
            value: str | None = " ".join(self.args) if name in "@*" else self._special(name)
            if name.isdigit() and int(name) > len(self.args):
                value = None
        else:
            value = self.vars.get(name)
        if not rest:
            return value or ""
        for op in (":-", "-", ":+", "+", "##", "#", "%%", "%"):
            if rest.startswith(op):
                arg = rest[len(op):]
                break
        else:
            raise ShSyntaxError(f"${{{body}}}: bad substitution")
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return self.expand_string(arg) if unset else value  # type: ignore[return-value]
        if op in (":+", "+"):
            set_ = value is not None and (op == "+" or value != "")
            return self.expand_string(arg) if set_ else ""
        value = value or ""
        rx = re.compile(pattern_regex(self.expand_chunks(arg)), re.DOTALL)
        cuts = range(len(value) + 1)
        if op in ("#", "##"):
            order = cuts if op == "#" else reversed(cuts)
            k = next((k for k in order if rx.fullmatch(value[:k])), None)
            return value[k:] if k is not None else value
        order = reversed(cuts) if op == "%" else cuts
        k = next((k for k in order if rx.fullmatch(value[k:])), None)
        return value[:k] if k is not None else value

    def _command_subst(self, src: str) -> str:
        buf = bytearray()
        sub = self.subshell()
        sub.io = IO(self.io.stdin, buf.extend, self.io.err)
        self.status = sub.run(src)
        return buf.decode("utf-8", "replace").rstrip("\n")

    def glob(self, chunks: list[tuple[str, bool]]) -> list[str]:
        """Sorted paths matching an unquoted pattern; [] when nothing matches (the caller keeps the word)."""
        comps: list[list[tuple[str, bool]]] = [[]]
        for text, quoted in chunks:
            parts = text.split("/")
            for k, part in enumerate(parts):
                if k:
                    comps.append([])
                comps[-1].append((part, quoted))
        absolute = not "".join(t for t, _ in comps[0])
        if absolute:
            comps = comps[1:]
        found = ["/" if absolute else ""]
        for k, comp in enumerate(comps):
            last = k == len(comps) - 1
            literal = "".join(t for t, _ in comp)
            nxt: list[str] = []
            for base in found:
                if not has_glob(comp):
                    path = base + literal
                    if last and not literal:
                        nxt.append(path)  # trailing slash
                    elif self.file_test("-e", self.abs_path(path)):
                        nxt.append(path + ("" if last else "/"))
                    continue
                names = self.listdir(self.abs_path(base) if base else self.cwd) or []
                rx = re.compile(pattern_regex(comp), re.DOTALL)
                for name in sorted(names):
                    if name.startswith(".") and not literal.startswith("."):
                        continue
                    if rx.fullmatch(name):
                        nxt.append(base + name + ("" if last else "/"))
            found = nxt
        return sorted(p for p in found if p not in ("", "/"))


def _quiet(fn: Callable, *args) -> None:
    """A background job (`cmd &`): its status is not waited for, its failure ends only itself."""
    try:
        fn(*args)
    except (ShExit, _Break, Unsupported, ShSyntaxError, OSError):
        return
