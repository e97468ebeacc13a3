"""The CPU quota (CFS bandwidth limit) of a process's cgroup, as cores: what a container's
`--cpus` sets, and what Go before 1.25 does not see when it sizes GOMAXPROCS from the CPU count.

A process's cgroup is read from /proc/PID/cgroup; the cgroup file systems are found in this
process's /proc/self/mountinfo (diagnose reads from the host, where those paths hold). cgroup v2
keeps the limit in cpu.max ("max 100000" or "50000 100000"), v1 in cpu.cfs_quota_us (-1: none)
and cpu.cfs_period_us. A parent's limit bounds its children, so the smallest one from the
process's cgroup up to the root is the quota. Shape, for environment.json's processes[i]:

    {"cores": 1.5 | null (no limit), "cgroup": "/system.slice/x.service", "version": 2,
     "cpus": 8 (the CPUs it may run on, its affinity: what Go counts) | null}
    {"unavailable": "why"}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def _mounts(mountinfo: str) -> tuple[Path | None, Path | None]:
    """(the cgroup v2 mount point, the v1 mount point holding the cpu controller)."""
    v2 = v1 = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        point, fstype, options = Path(fields[4]), rest[0], rest[2].split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = point
        elif fstype == "cgroup" and "cpu" in options and v1 is None:
            v1 = point
    return v2, v1


def _limit(folder: Path, version: int) -> float | None:
    """The limit set on one cgroup folder, as cores (None: none set, or not readable)."""
    try:
        if version == 2:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            if quota == "max":
                return None
            return int(quota) / int(period)
        quota_us = int((folder / "cpu.cfs_quota_us").read_text())
        if quota_us < 0:
            return None
        return quota_us / int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _smallest(mount: Path, cgroup: str, version: int) -> float | None:
    """The smallest limit from the cgroup up to the root of its hierarchy."""
    found: list[float] = []
    parts = [p for p in cgroup.strip("/").split("/") if p]
    for depth in range(len(parts), -1, -1):
        limit = _limit(mount.joinpath(*parts[:depth]), version)
        if limit is not None:
            found.append(limit)
    return min(found) if found else None


def cpu_quota(pid: int, proc: Path = PROC) -> dict[str, Any]:
    out = _quota(pid, proc)
    if "cores" in out:
        try:
            out["cpus"] = len(os.sched_getaffinity(pid))
        except OSError:
            out["cpus"] = None
    return out


def _quota(pid: int, proc: Path) -> dict[str, Any]:
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
        v2_mount, v1_mount = _mounts((proc / "self" / "mountinfo").read_text())
    except OSError as e:
        return {"unavailable": f"cannot read the cgroup of pid {pid}: {e.strerror or e}"}
    v1_path = v2_path = None
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "":
            v2_path = path
        elif "cpu" in controllers.split(","):
            v1_path = path
    if v1_path is not None and v1_mount is not None:
        if not (v1_mount / "cpu.cfs_quota_us").exists():
            return {"unavailable": f"{v1_mount} has no cpu.cfs_quota_us (CFS bandwidth control off)"}
        return {"cores": _smallest(v1_mount, v1_path, 1), "cgroup": v1_path, "version": 1}
    if v2_path is not None and v2_mount is not None:
        try:
            controllers = (v2_mount / "cgroup.controllers").read_text().split()
        except OSError:
            return {"unavailable": f"{v2_mount} is not a cgroup v2 hierarchy"}
        if "cpu" not in controllers:  # (hybrid, with cpu on neither): no CPU limit can be set there
            return {"unavailable": f"the cpu controller is not enabled in {v2_mount}"}
        return {"cores": _smallest(v2_mount, v2_path, 2), "cgroup": v2_path, "version": 2}
    return {"unavailable": "no cgroup file system with the cpu controller is mounted"}


def quota_summary(processes: list[dict[str, Any]]) -> dict[str, Any]:
    """environment.json's cpu.quota, over the targets whose quota was read: {"read": 1,
    "limited": 1 when a quota is below the CPUs its process may run on (else 0), "cores": the
    smallest quota or null}; {"read": 0} when none was read."""
    read = [p["cpu_quota"] for p in processes if isinstance(p.get("cpu_quota"), dict) and "cores" in p["cpu_quota"]]
    if not read:
        return {"read": 0}
    limits = [q["cores"] for q in read if q["cores"] is not None]
    below = [q for q in read if q["cores"] is not None and q.get("cpus") and q["cores"] < q["cpus"]]
    return {"read": 1, "limited": 1 if below else 0, "cores": min(limits) if limits else None}
