"""Reading perf.data: `perf script` runs as a subprocess (argument list, no shell) and its
output is streamed into the perf script parser."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

from diagnose.errors import DiagnoseError, input_error

PIPE_CHUNK = 1 << 20
PERF_INSTALL_HINT = "install it (Debian/Ubuntu: apt-get install linux-perf)"


def perf_binary() -> str:
    path = shutil.which("perf")
    if path is None:
        raise DiagnoseError(f"perf is not installed (needed to read perf.data); {PERF_INSTALL_HINT}")
    return path


def script_command(path: str) -> list[str]:
    """The perf script invocation: header included, and pid/tid for per-process attribution."""
    return [perf_binary(), "script", "--header", "-F", "+pid", "-i", path]


def stream_perf_script(path: str) -> Iterator[bytes]:
    """Yield perf script output for `path` in pieces; a clear error when perf fails."""
    cmd = script_command(path)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise DiagnoseError(f"cannot run perf ({exc.strerror}); {PERF_INSTALL_HINT}") from None
    assert proc.stdout is not None and proc.stderr is not None
    got_any = False
    try:
        while True:
            piece = proc.stdout.read(PIPE_CHUNK)
            if not piece:
                break
            got_any = True
            yield piece
    finally:
        if proc.poll() is None and not got_any:
            pass
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        code = proc.wait()
    if code != 0 and not got_any:
        detail = _first_error_line(err)
        raise input_error(path, f"perf script could not read it ({detail})",
                          "check that it is a complete perf.data file readable by this user")


def _first_error_line(err: str) -> str:
    for line in err.splitlines():
        line = line.strip()
        if line and not line.startswith("Warning") and "callchain" not in line.lower():
            return line[:160]
    return err.strip().splitlines()[0][:160] if err.strip() else "no output"
