"""One exception type for user errors, so the CLI prints one line and exits 2 without a traceback."""
from __future__ import annotations


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

    def __reduce__(self):  # pickled whole: a device farm sends it from the agent to the coordinator
        return (type(self), (self.device, self.reason))
