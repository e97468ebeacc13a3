"""The machine and processes a live capture ran on, read from /proc and /sys into a JSON-ready dict.

Shape of the dict (environment.json in a capture folder; every value a string exactly as the
kernel prints it, minus the trailing newline, unless noted; null when the file does not exist
or cannot be read):

    {
      "sysctl":   {"net.core.rmem_max": "212992", "net.ipv4.udp_mem": "57582\\t76776\\t115164", ...},
      "cpu":      {"model": "AMD EPYC", "count": 2 (int), "online": "0-1", "online_count": 2 (int),
                   "flags_aes": true (bool), "quota": {"read": 1, "limited": 0 | 1, "cores": 1.5 | null}},
      "kernel":   {"release": "6.1.0-18-amd64", "version": "#1 SMP ...", "machine": "x86_64"},
      "vulnerabilities": {"meltdown": "Not affected", "spectre_v2": "Mitigation: ...", ...},
      "processes": [{"pid": 123 (int), "comm": "worker", "cmdline": ["/usr/bin/worker", "--x"],
                     "uid": 1000 (int), "threads": [{"tid": 123 (int), "comm": "worker"}, ...],
                     "cpu_quota": {"cores": 1.5 | null, "cgroup": "/...", "version": 2, "cpus": 8}
                                  or {"unavailable": "why"}}],
                   (cpu_quota: the cgroup's CPU limit, diagnose.capture.cpu_quota; cpu.quota: the targets' tightest)
      "video_hardware": {"render_nodes": ["renderD128"], "nvidia": [], "v4l2": [], "any": 1}
                  (diagnose.capture.video_devices: what hardware encoders and decoders could use),
      "recorded": {"start": "2026-01-02T03:04:05.123456+00:00", "duration_s": 30.0 (float),
                   "frequency_hz": 99 (int), "call_graph": "fp", "event": "cpu-clock",
                   "stopped_by": "duration"},
      "network":  {...}  (diagnose.capture.netstat: the targets' sockets and UDP counters over the recording)
    }

"sysctl" holds every key the knowledge base can recommend a value for, plus BASE_SYSCTLS.
"processes" is read before the recording starts, so a target that exits mid-capture is still
described. "recorded" is added once the recording has ended (with_recording).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from diagnose.capture.cpu_quota import cpu_quota, quota_summary
from diagnose.capture.video_devices import video_hardware
from diagnose.core.errors import DiagnoseError

# Always recorded, whatever the knowledge base recommends: the UDP/socket buffer and NAPI
# settings media servers are tuned with, and the two settings that decide what perf may see.
BASE_SYSCTLS = (
    "net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max", "net.core.wmem_default",
    "net.core.netdev_max_backlog", "net.core.netdev_budget", "net.core.busy_read", "net.core.busy_poll",
    "net.ipv4.udp_mem", "net.ipv4.udp_rmem_min", "net.ipv4.udp_wmem_min",
    "kernel.perf_event_paranoid", "kernel.kptr_restrict", "kernel.perf_event_max_sample_rate",
)
PROC = Path("/proc")
VULNERABILITIES = Path("/sys/devices/system/cpu/vulnerabilities")
CPUS_ONLINE = Path("/sys/devices/system/cpu/online")
# /proc/cpuinfo names the model differently per architecture; the first present wins.
_MODEL_KEYS = ("model name", "cpu model", "Model", "Hardware", "Processor", "uarch")


def read_text(path: Path) -> str | None:
    """A /proc or /sys value without its trailing newline, or None when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").rstrip("\n")
    except OSError:
        return None


def sysctl_path(key: str) -> Path:
    return PROC / "sys" / key.replace(".", "/")


def sysctl_keys() -> list[str]:
    """BASE_SYSCTLS plus the key of every sysctl recommendation in the knowledge base."""
    keys = list(BASE_SYSCTLS)
    # re2, yaml: loaded only when this runs
    from diagnose.expert.knowledge import builtin_knowledge

    try:
        recs = builtin_knowledge().recommendations.values()
    except DiagnoseError:
        return keys  # a broken knowledge base must not stop a capture; the analysis reports it
    keys += [r.key for r in recs if r.kind == "sysctl" and r.key]
    return list(dict.fromkeys(keys))


def read_sysctls(keys: list[str]) -> dict[str, str | None]:
    return {k: read_text(sysctl_path(k)) for k in keys}


def online_count(spec: str | None) -> int | None:
    """"0-3,6" -> 5."""
    if not spec:
        return None
    total = 0
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            total += int(hi or lo) - int(lo) + 1
    except ValueError:
        return None
    return total


def cpu_info() -> dict[str, Any]:
    model: str | None = None
    found: dict[str, str] = {}
    flags: set[str] = set()
    for line in (read_text(PROC / "cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        found.setdefault(key, value)
        if key in ("flags", "Features") and not flags:
            flags = set(value.split())  # x86 says flags, arm64 says Features; both name aes
    for k in _MODEL_KEYS:
        if found.get(k):
            model = found[k]
            break
    online = read_text(CPUS_ONLINE)
    return {"model": model, "count": os.cpu_count(), "online": online, "online_count": online_count(online),
            "flags_aes": "aes" in flags}


def kernel_info() -> dict[str, str]:
    u = os.uname()
    return {"release": u.release, "version": u.version, "machine": u.machine}


def vulnerabilities() -> dict[str, str | None]:
    try:
        names = sorted(p.name for p in VULNERABILITIES.iterdir())
    except OSError:
        return {}
    return {n: read_text(VULNERABILITIES / n) for n in names}


def process_uid(pid: int) -> int | None:
    for line in (read_text(PROC / str(pid) / "status") or "").splitlines():
        if line.startswith("Uid:"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]] if raw else []


def threads(pid: int) -> list[dict[str, Any]]:
    try:
        tids = sorted(int(t.name) for t in (PROC / str(pid) / "task").iterdir() if t.name.isdigit())
    except OSError:
        return []
    out = []
    for tid in tids:
        comm = read_text(PROC / str(pid) / "task" / str(tid) / "comm")
        if comm is not None:  # a thread that ended while we listed them
            out.append({"tid": tid, "comm": comm})
    return out


def process_info(pid: int) -> dict[str, Any]:
    return {"pid": pid, "comm": read_text(PROC / str(pid) / "comm"), "cmdline": cmdline(pid),
            "uid": process_uid(pid), "threads": threads(pid), "cpu_quota": cpu_quota(pid)}


def collect(pids: list[int]) -> dict[str, Any]:
    """Everything but "recorded"; call it before the recording starts."""
    processes = [process_info(p) for p in pids]
    return {
        "sysctl": read_sysctls(sysctl_keys()),
        "cpu": {**cpu_info(), "quota": quota_summary(processes)},
        "kernel": kernel_info(),
        "vulnerabilities": vulnerabilities(),
        "processes": processes,
        "video_hardware": video_hardware(),
    }


def with_recording(env: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    return {**env, "recorded": recorded}
