"""The one error type users see: a single clear line and an exit code, never a traceback."""

from __future__ import annotations

from diagnose.core.escape import terminal

# Exit codes are part of the command-line contract.
EXIT_BAD_INPUT = 2


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped (`\\x0a`, `\\x1b`), as every
    report shows them: a message that quotes a user's key or value stays one line."""
    return terminal(text)


class DiagnoseError(Exception):
    """A failure to report to the user as one line: what, where, and what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


def input_error(path: str, what: str, fix: str | None = None, line: int | None = None) -> DiagnoseError:
    """Build the standard bad-input message: `PATH[:LINE]: WHAT; FIX`."""
    where = f"{path}:{line}" if line is not None else path
    text = f"{where}: {what}"
    if fix:
        text += f"; {fix}"
    return DiagnoseError(text)
