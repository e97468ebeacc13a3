"""Checks made before a live capture starts: options, perf, the targets, permissions, the output
folder. A failure is one DiagnoseError line (the reason and the fix) and nothing is written;
what only degrades the capture (no kernel frames) is returned as a warning instead."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from diagnose.capture.claim import LOCK, holder
from diagnose.capture.environment import PROC, process_uid, read_text
from diagnose.core.errors import DiagnoseError
from diagnose.core.patterns import PatternError, compile_pattern
from diagnose.inputs.perf_command import PERF_INSTALL_HINT

CALL_GRAPHS = ("fp", "dwarf")
# perf record --control (to enable and disable the events at exact moments) with -D -1
# (start disabled) arrived in perf 5.10.
MIN_PERF = (5, 10)
# Linux capability numbers (include/uapi/linux/capability.h).
CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYSLOG, CAP_PERFMON = 19, 21, 34, 38
PARANOID_FIX = "sysctl -w kernel.perf_event_paranoid=1"
# Process states (/proc/PID/stat) of a process that has exited.
_ENDED = ("Z", "X", "x")


@dataclass(frozen=True)
class RunRequest:
    """What the user asked `diagnose run` for."""

    pids: tuple[int, ...]
    name: str | None
    duration_s: float
    frequency_hz: int
    call_graph: str
    out: Path | None
    formats: tuple[str, ...]
    # Refuses a format the reports cannot write (the render registry is above capture: the
    # orchestrator passes diagnose.orchestrate.run_folder.check_format).
    check_format: Callable[[str], None]


@dataclass(frozen=True)
class Target:
    pid: int
    comm: str
    uid: int | None


@dataclass(frozen=True)
class Privileges:
    """Who we run as, in the terms the kernel's perf permission checks use."""

    uid: int
    caps: frozenset[int]

    @property
    def perfmon(self) -> bool:
        return self.uid == 0 or CAP_PERFMON in self.caps or CAP_SYS_ADMIN in self.caps


@dataclass(frozen=True)
class Plan:
    """A checked request: the processes to record, where the folder goes, and what to warn about."""

    targets: tuple[Target, ...]
    folder: Path
    perf: str
    perf_version: str
    warnings: tuple[str, ...]

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(t.pid for t in self.targets)


def check(request: RunRequest) -> Plan:
    """All checks, cheapest and most basic first. Raises DiagnoseError; writes nothing."""
    check_options(request)
    perf, version = find_perf()
    targets = find_targets(request.pids, request.name)
    privileges = current_privileges()
    paranoid = read_int("kernel/perf_event_paranoid")
    warnings = check_permission(privileges, paranoid, targets)
    if kernel_recorded(privileges, paranoid):
        warnings += check_kernel_symbols(privileges, read_int("kernel/kptr_restrict"), kallsyms_hidden())
    folder = check_folder(request.out or default_folder(targets[0].pid))
    return Plan(tuple(targets), folder, perf, version, tuple(warnings))


# -- options --------------------------------------------------------------------------------

def check_options(request: RunRequest) -> None:
    if not request.pids and request.name is None:
        raise DiagnoseError("nothing to record; name the processes with --pid PID or --name PATTERN")
    if not (request.duration_s > 0 and math.isfinite(request.duration_s)):
        raise DiagnoseError(f"--duration {request.duration_s:g} must be more than 0 seconds; try --duration 30")
    if request.frequency_hz < 1:
        raise DiagnoseError(f"--frequency {request.frequency_hz} must be at least 1 Hz; try --frequency 99")
    limit = read_int("kernel/perf_event_max_sample_rate")
    if limit is not None and request.frequency_hz > limit:
        raise DiagnoseError(f"--frequency {request.frequency_hz} is above the kernel's limit "
                            f"(kernel.perf_event_max_sample_rate = {limit}); choose a lower one such as 99")
    if request.call_graph not in CALL_GRAPHS:
        raise DiagnoseError(f"unknown --call-graph {request.call_graph!r}; choose one of: {', '.join(CALL_GRAPHS)}")
    for fmt in request.formats:
        request.check_format(fmt)


def read_int(sysctl: str) -> int | None:
    text = read_text(PROC / "sys" / sysctl)
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


# -- perf -----------------------------------------------------------------------------------

def find_perf() -> tuple[str, str]:
    """The perf binary and its version ("6.1.187")."""
    path = shutil.which("perf")
    if path is None:
        raise DiagnoseError(f"perf is not installed (needed to record); {PERF_INSTALL_HINT}")
    try:
        out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiagnoseError(f"{path} does not run ({exc}); {PERF_INSTALL_HINT}") from None
    m = re.search(r"perf version (\S+)", out.stdout)
    if out.returncode != 0 or m is None:
        detail = (out.stderr.strip().splitlines() or ["no version printed"])[-1][:160]
        raise DiagnoseError(f"{path} does not work ({detail}); {PERF_INSTALL_HINT} for the running kernel")
    version = m.group(1)
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if numbers and (int(numbers.group(1)), int(numbers.group(2))) < MIN_PERF:
        raise DiagnoseError(f"perf {version} is too old for `diagnose run` (it needs perf record --control, "
                            f"perf {MIN_PERF[0]}.{MIN_PERF[1]} or later); upgrade linux-perf")
    return path, version


# -- targets --------------------------------------------------------------------------------

def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when there is no such process."""
    text = read_text(PROC / str(pid) / "stat")
    if text is None:
        return None
    # The name in parentheses may itself hold spaces and parentheses: split after the last ")".
    fields = text[text.rfind(")") + 2:].split()
    try:
        return fields[0], int(fields[1])
    except (IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Running: a zombie has exited, even while its parent has not yet collected it. A process
    whose main thread has ended but other threads run on shows as a zombie too: ask its threads."""
    st = proc_stat(pid)
    if st is None:
        return False
    if st[0] not in _ENDED:
        return True
    try:
        tids = [t.name for t in (PROC / str(pid) / "task").iterdir()]
    except OSError:
        return False
    return any((s := read_text(PROC / str(pid) / "task" / t / "stat")) is not None
               and s[s.rfind(")") + 2:][:1] not in _ENDED for t in tids)


def ancestors(pid: int) -> set[int]:
    """pid and its parents up to init: the shell, sudo and diagnose itself, which a --name search
    would otherwise match because their command lines hold the pattern."""
    seen: set[int] = set()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        st = proc_stat(pid)
        if st is None:
            break
        pid = st[1]
    return seen


def target(pid: int) -> Target:
    return Target(pid, read_text(PROC / str(pid) / "comm") or "?", process_uid(pid))


def find_targets(pids: Iterable[int], name: str | None) -> list[Target]:
    """The --pid processes, then those --name finds, each once, in that order."""
    chosen: list[int] = []
    for pid in pids:
        if pid <= 0 or not alive(pid):
            raise DiagnoseError(f"--pid {pid}: no such process (or it has exited); check the pid with `ps -e`")
        if pid == os.getpid():
            raise DiagnoseError(f"--pid {pid} is diagnose itself; pass the pid of the process to diagnose")
        if pid not in chosen:
            chosen.append(pid)
    if name is not None:
        found = [p for p in find_by_name(name) if p not in chosen]
        if not found:
            raise DiagnoseError(f"--name {name!r}: no running process has it in its name or command line; "
                                f"check with `ps -eo pid,comm,args`")
        chosen += found
    return [target(p) for p in chosen]


def find_by_name(pattern: str) -> list[int]:
    """Processes whose name (comm) or command line (arguments joined by spaces) contains a match
    of `pattern`: an RE2 expression searched anywhere, so ^ and $ anchor it. diagnose itself and
    its parents are left out."""
    try:
        regex = compile_pattern(pattern)
    except PatternError as exc:
        raise DiagnoseError(f"--name {pattern!r}: {exc}") from None
    skip = ancestors(os.getpid())
    out = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in skip or not alive(pid):
            continue
        comm = read_text(entry / "comm") or ""
        try:
            args = (entry / "cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue  # exited while we looked
        if regex.search(comm) or (args and regex.search(args)):
            out.append(pid)
    return sorted(out)


# -- permissions ----------------------------------------------------------------------------

def current_privileges() -> Privileges:
    caps = 0
    for line in (read_text(PROC / "self" / "status") or "").splitlines():
        if line.startswith("CapEff:"):
            caps = int(line.split()[1], 16)
    return Privileges(os.geteuid(), frozenset(i for i in range(64) if caps >> i & 1))


def check_permission(who: Privileges, paranoid: int | None, targets: Iterable[Target]) -> list[str]:
    """The kernel's rules for perf on a running process (kernel/events/core.c): with CAP_PERFMON
    (or root) anything goes; otherwise kernel.perf_event_paranoid above 2 forbids perf entirely,
    2 allows user-space samples only, and the process must be one we could ptrace (our own)."""
    if who.perfmon:
        return []
    if paranoid is not None and paranoid > 2:
        raise DiagnoseError(f"not allowed to use perf as uid {who.uid}: kernel.perf_event_paranoid is {paranoid}; "
                            f"run diagnose as root (sudo), or allow it with `{PARANOID_FIX}`")
    if CAP_SYS_PTRACE not in who.caps:
        for t in targets:
            if t.uid is not None and t.uid != who.uid:
                raise DiagnoseError(
                    f"not allowed to record pid {t.pid} ({t.comm}, uid {t.uid}) as uid {who.uid} "
                    f"(kernel.perf_event_paranoid is {paranoid}, and perf may watch only your own processes "
                    f"without CAP_PERFMON); run diagnose as root (sudo), or as uid {t.uid} with `{PARANOID_FIX}`")
    if paranoid is not None and paranoid >= 2:
        return [f"kernel.perf_event_paranoid is {paranoid}: only user-space frames are recorded (time in the kernel, "
                f"e.g. sending UDP, is invisible); run as root or `{PARANOID_FIX}` to include it"]
    return []


def kernel_recorded(who: Privileges, paranoid: int | None) -> bool:
    return who.perfmon or paranoid is None or paranoid < 2


def kallsyms_hidden() -> bool | None:
    """Whether /proc/kallsyms shows us zero addresses (as perf, running as us, will see it)."""
    try:
        with open(PROC / "kallsyms", "rb") as f:
            first = f.readline().split()
    except OSError:
        return None
    return bool(first) and set(first[0]) == {ord("0")}


def check_kernel_symbols(who: Privileges, kptr_restrict: int | None, hidden: bool | None) -> list[str]:
    """Hidden kernel addresses only cost the kernel frames their names (they show as [unknown]):
    user-space frames, threads and CPU totals stay right, so this warns rather than stops."""
    if hidden is None:
        level = kptr_restrict or 0
        hidden = level >= 2 or (level == 1 and CAP_SYSLOG not in who.caps and who.uid != 0)
    if not hidden:
        return []
    if kptr_restrict == 1 and who.uid != 0 and CAP_SYSLOG not in who.caps:
        fix = "run as root (it may read them when kernel.kptr_restrict is 1) or `sysctl -w kernel.kptr_restrict=0`"
    else:
        fix = "`sysctl -w kernel.kptr_restrict=0` (a kernel in lockdown mode hides them whatever it says)"
    return [f"kernel symbols are hidden (kernel.kptr_restrict is {kptr_restrict}): kernel frames will show as "
            f"[unknown]; {fix}"]


# -- output folder --------------------------------------------------------------------------

def default_folder(pid: int) -> Path:
    return Path(f"diagnose-{time.strftime('%Y%m%d-%H%M%S')}-{pid}")


def check_folder(folder: Path) -> Path:
    """The folder must not exist or be empty, and we must be able to create it (claiming it for
    this run comes later, diagnose.capture.claim: another run may take it in between)."""
    if folder.is_symlink():
        raise DiagnoseError(f"--out {folder}: is a symbolic link; choose another --out (a folder of its own)")
    if folder.exists():
        if not folder.is_dir():
            raise DiagnoseError(f"--out {folder}: exists and is not a folder; choose another --out")

        names = [p.name for p in folder.iterdir()]
        if LOCK in names:
            raise DiagnoseError(f"--out {folder}: {holder(folder)}; choose another --out")
        if names:
            raise DiagnoseError(f"--out {folder}: the folder exists and is not empty; choose another --out "
                                f"or remove it")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise DiagnoseError(f"--out {folder}: cannot write in it (permission denied); choose another --out")
        return folder
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise DiagnoseError(f"--out {folder}: cannot create it in {parent} (permission denied); choose another --out")
    return folder
