"""The targets' cgroup CPU limit (a container's --cpus), as diagnose run records it, and the Go
advice that depends on it: GOMAXPROCS is worth setting only where a quota is below the CPUs a
process may run on, which Go before 1.25 does not see."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import lab_copy_with_environment

from diagnose.capture import cpu_quota, environment
from diagnose.pipeline import analyze

V1_CPU = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def _writable_hierarchy() -> tuple[Path, int] | None:
    """Where this test may make cgroups with a CPU limit: the v1 cpu controller, or a v2 root
    that delegates cpu to its children."""
    if os.geteuid() != 0:
        return None
    if (V1_CPU / "cpu.cfs_quota_us").exists():
        return V1_CPU, 1
    controllers = V2 / "cgroup.subtree_control"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return V2, 2
    return None


def _set_limit(folder: Path, version: int, cores: float | None) -> None:
    if version == 1:
        (folder / "cpu.cfs_period_us").write_text("100000")
        (folder / "cpu.cfs_quota_us").write_text("-1" if cores is None else str(int(cores * 100000)))
    else:
        (folder / "cpu.max").write_text("max 100000" if cores is None else f"{int(cores * 100000)} 100000")


@pytest.fixture
def quota_cgroups() -> Iterator[tuple[Path, Path, int]]:
    """A parent cgroup limited to 1.5 cores and a child limited to 0.5, removed afterwards."""
    found = _writable_hierarchy()
    if found is None:
        pytest.skip("needs root and a cgroup hierarchy with the cpu controller to make a limited cgroup in")
    mount, version = found
    parent = mount / f"diagnose-test-{os.getpid()}"
    child = parent / "inner"
    try:
        parent.mkdir()
    except OSError as e:  # a read-only cgroup file system (a container): nothing to make one in
        pytest.skip(f"cannot make a cgroup in {mount}: {e.strerror or e}")
    try:
        if version == 2:
            (parent / "cgroup.subtree_control").write_text("+cpu")
        child.mkdir()
        _set_limit(parent, version, 1.5)
        _set_limit(child, version, 0.5)
        yield parent, child, version
    finally:
        for folder in (child, parent):
            if folder.exists():
                for pid in (folder / "cgroup.procs").read_text().split():
                    (mount / "cgroup.procs").write_text(pid)  # back to the root, so the folder can go
                folder.rmdir()


def test_a_limit_is_read_as_cores_and_a_parent_limit_bounds_its_children(quota_cgroups: tuple[Path, Path, int]) -> None:
    parent, child, version = quota_cgroups
    target = subprocess.Popen(["sleep", "60"])
    try:
        (child / "cgroup.procs").write_text(str(target.pid))
        q = cpu_quota.cpu_quota(target.pid)
        assert q["cores"] == 0.5 and q["version"] == version and q["cgroup"].endswith("/inner")
        assert q["cpus"] == len(os.sched_getaffinity(target.pid))
        # What diagnose run writes to environment.json (environment.collect is its reading).
        env = environment.collect([target.pid])
        assert env["processes"][0]["cpu_quota"]["cores"] == 0.5
        assert env["cpu"]["quota"] == {"read": 1, "limited": 1 if q["cpus"] > 0.5 else 0, "cores": 0.5}
        _set_limit(child, version, None)  # the child unlimited: the parent's 1.5 cores still bound it
        assert cpu_quota.cpu_quota(target.pid)["cores"] == 1.5
    finally:
        target.kill()
        target.wait()


def test_a_process_without_a_limit_reads_as_none() -> None:
    q = cpu_quota.cpu_quota(os.getpid())
    if "unavailable" in q:
        pytest.skip(f"no cgroup to read here: {q['unavailable']}")
    own = Path(f"/proc/{os.getpid()}/cgroup").read_text()
    assert q["cgroup"] in own
    if q["cores"] is None:
        assert environment.collect([os.getpid()])["cpu"]["quota"] == {"read": 1, "limited": 0, "cores": None}
    assert cpu_quota.cpu_quota(2 ** 22 + 7)["unavailable"].startswith("cannot read the cgroup of pid")


def test_cgroup_v2_cpu_max_is_read_up_to_the_root(tmp_path: Path) -> None:
    """A hand-made /proc and cgroup2 tree (this machine mounts cgroup v1 for cpu): cpu.max holds
    "QUOTA PERIOD" or "max PERIOD", and the smallest limit on the way to the root wins."""
    root = tmp_path / "cg2"
    leaf = root / "kubepods" / "pod1" / "ctr"
    leaf.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "kubepods" / "cpu.max").write_text("max 100000\n")
    (root / "kubepods" / "pod1" / "cpu.max").write_text("150000 100000\n")
    (leaf / "cpu.max").write_text("max 100000\n")
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "42").mkdir()
    (proc / "self" / "mountinfo").write_text(
        f"30 25 0:26 / {root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n")
    (proc / "42" / "cgroup").write_text("0::/kubepods/pod1/ctr\n")
    assert cpu_quota._quota(42, proc) == {"cores": 1.5, "cgroup": "/kubepods/pod1/ctr", "version": 2}
    (root / "kubepods" / "pod1" / "cpu.max").write_text("max 100000\n")
    assert cpu_quota._quota(42, proc)["cores"] is None
    # A v2 hierarchy without the cpu controller can hold no CPU limit: not read as "no limit".
    (root / "cgroup.controllers").write_text("memory pids\n")
    assert "cpu controller is not enabled" in cpu_quota._quota(42, proc)["unavailable"]


def _pion_with_quota(tmp_path: Path, quota: dict | None) -> dict:
    folder = lab_copy_with_environment(tmp_path, "pion-sfu", {"cpu": {"quota": quota}} if quota else {})
    a = analyze(str(folder))
    return next(f for f in a.findings if f.id == "go-scheduler-heavy").__dict__


@pytest.mark.parametrize("quota", [None, {"read": 1, "limited": 0, "cores": None}, {"read": 1, "limited": 0, "cores": 4.0}])
def test_gomaxprocs_is_not_advised_without_a_quota_below_the_cpus(tmp_path: Path, quota: dict | None) -> None:
    """Pion's lab capture (go1.19, no container): Go already counts the CPUs it may use. Whether
    the quota was not read (a capture from before) or read as none, the advice waits for evidence."""
    f = _pion_with_quota(tmp_path, quota)
    assert "system.gomaxprocs" not in {r["id"] for r in f["recommendations"]}
    withheld = next(w for w in f["withheld"] if w["id"] == "system.gomaxprocs")
    assert withheld["status"] == "needs-evidence" and "CPU quota" in withheld["why"]


def test_gomaxprocs_is_advised_under_a_quota_below_the_cpus(tmp_path: Path) -> None:
    f = _pion_with_quota(tmp_path, {"read": 1, "limited": 1, "cores": 0.5})
    assert "system.gomaxprocs" in {r["id"] for r in f["recommendations"]}
