"""Wall time and peak memory of one command, for the benchmarks: peak memory is the sum of PSS over
the process and all its children, sampled every 25 ms (PSS shares the pages that forked workers have
in common instead of counting them twice)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_kb(root: int) -> int:
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _pss_kb(pid)
        todo.extend(_children(pid))
    return total


def measure(cmd: list[str], stdout_path: Path, env: dict[str, str] | None = None,
            timeout: float | None = None, check: bool = True, cwd: Path | None = None) -> tuple[float, int]:
    """Wall time (s) and peak process-tree PSS (KB) of one run. With check=False a failed run
    returns a negative time (-1: failed, -2: killed after `timeout` seconds) instead of exiting."""
    peak = 0
    with stdout_path.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                start_new_session=True)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_pss_kb(proc.pid))
                done.wait(0.025)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        timed_out = False
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 9)  # the command and the workers it started
            _, err = proc.communicate()
        elapsed = time.perf_counter() - start
        done.set()
        t.join()
    if not check and (timed_out or proc.returncode != 0):
        measure.last_error = err.decode(errors="replace")[-500:]  # type: ignore[attr-defined]
        return (-2.0 if timed_out else -1.0), peak
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace')[-500:]}")
    return elapsed, peak


def compile_bytecode(checkout: Path) -> None:
    """Write the bytecode of a checkout's diagnose package before timing it, as pip does for an
    installed package. Without it (PYTHONDONTWRITEBYTECODE set, a fresh clone, or .pyc files older
    than their sources) every run compiles the modules it imports from source: 0.1 s more for
    `analyze`, and a checkout timed that way against one with bytecode compares nothing."""
    import compileall
    import sys

    ok = compileall.compile_dir(str(checkout / "diagnose"), quiet=1)
    if not ok:
        raise SystemExit(f"{checkout / 'diagnose'}: could not compile its bytecode (Python {sys.version.split()[0]})")
