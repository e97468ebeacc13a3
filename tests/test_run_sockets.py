"""diagnose run on real UDP receivers on 127.0.0.1 (real perf, processes this test starts): the run
folder's per-socket drops agree with what the sender sent and the receiver received over the same
window, and with the /proc counter the test reads itself; the socket-buffer advice names the socket,
its drop rate and the sysctl that matters (rmem_max when the program sets SO_RCVBUF, rmem_default
when it does not); a receiver that keeps up gets no socket-buffer advice at all; a run that may not
read buffer sizes still records, and says so in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from test_run import Running, manifest, needs_perf, stop

from diagnose.texts import fmt_value

UDP_PEER = Path(__file__).resolve().parent / "helpers" / "udp_peer.py"
SOCKET_SYSCTLS = ("net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max", "net.core.wmem_default")
# A burst the slow receiver (1 ms per datagram) cannot keep up with; sent in well under a second.
BURST = 20000


def start_receiver(*args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, str(UDP_PEER), "receive", *args], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("ready "), line
    return proc, int(line.split()[1])


def received(proc: subprocess.Popen[str]) -> int:
    """Stop the receiver and take its own count."""
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return int(out.split("received ")[1].split()[0])


def send(port: int, count: int, rate: float = 0.0) -> tuple[int, float, float]:
    """(datagrams sent, start, end on CLOCK_MONOTONIC)."""
    out = subprocess.run([sys.executable, str(UDP_PEER), "send", str(port), "--count", str(count), "--rate", str(rate)],
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    return int(out[1]), float(out[2]), float(out[3])


def proc_socket(pid: int, port: int) -> tuple[int, int]:
    """(drops, receive queue bytes) of the receiver's socket, read from /proc by the test itself."""
    for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == f"0100007F:{port:04X}":
            return int(f[12]), int(f[4].split(":")[1], 16)
    raise AssertionError(f"no socket on 127.0.0.1:{port}")


def softnet_dropped() -> int:
    """Packets the kernel dropped before any socket (per-CPU backlog full): the only other place
    a loopback datagram can be lost."""
    return sum(int(line.split()[1], 16) for line in Path("/proc/net/softnet_stat").read_text().splitlines())


def row_of(network: dict, port: int) -> dict:
    return next(r for r in network["sockets"]["busiest"] if r["local"] == f"127.0.0.1:{port}")


def table_row(terminal: str, port: int) -> str:
    """The sockets table's row of the receiver in the terminal report."""
    rows = [line for line in terminal.splitlines() if line.strip().startswith(f"udp 127.0.0.1:{port} (inode")]
    assert rows, f"no sockets-table row for port {port} in the terminal report:\n{terminal}"
    return rows[0]


def offered_or_in_effect(finding: dict) -> set[str]:
    return {r["key"] for r in finding["recommendations"] if r["kind"] == "sysctl"} | \
        {w["id"].removeprefix("sysctl.") for w in finding["withheld"] if w["status"] == "already-in-effect"}


class DropRun:
    def __init__(self, folder: Path, port: int, pid: int, sent: int, got: int, proc_drops: int, softnet: int,
                 report: dict, terminal: str) -> None:
        self.folder, self.port, self.pid, self.sent, self.received = folder, port, pid, sent, got
        self.proc_drops, self.softnet, self.report, self.terminal = proc_drops, softnet, report, terminal
        self.network = json.loads((folder / "environment.json").read_text())["network"]
        self.row = row_of(self.network, port)
        self.finding = next(f for f in report["findings"] if f["id"] == "udp-receive-drops")


def drop_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *receiver_args: str) -> DropRun:
    """A slow receiver, recorded for 3 s while a sender blasts BURST datagrams at it, from after
    the recording started; the terminal report as `diagnose run` printed it."""
    monkeypatch.setenv("COLUMNS", "200")  # a table row on one line
    rx, port = start_receiver("--sleep-us", "1000", "--name", "slow-rx", *receiver_args)
    folder = tmp_path / "capture"
    try:
        drops_before, _ = proc_socket(rx.pid, port)
        softnet_before = softnet_dropped()
        run = Running("--pid", str(rx.pid), "--duration", "3", "--out", str(folder))
        run.wait_started()
        sent, _, sent_end = send(port, BURST)
        out, err = run.finish()
        assert run.returncode == 0, err
        drops_after, queued = proc_socket(rx.pid, port)
        softnet = softnet_dropped() - softnet_before
        assert queued == 0, "the receiver has not drained its socket yet"
        got = received(rx)
    finally:
        stop(rx)  # type: ignore[arg-type]
    # The premise of comparing counts: every datagram was sent inside the recorded window.
    assert sent_end < manifest(folder)["recording"]["ended_s"], "the sender outlasted the recording (machine overloaded?)"
    report = json.loads((folder / "report.json").read_text())
    return DropRun(folder, port, rx.pid, sent, got, drops_after - drops_before, softnet, report, out)


def check_drops_counted(r: DropRun) -> None:
    # Independent counts: the sender's and the receiver's own, and the test's /proc reading.
    assert r.sent == BURST and r.received < r.sent / 10
    assert 0 <= (r.sent - r.received) - r.proc_drops <= r.softnet
    # diagnose counted exactly the datagrams the socket dropped in the window ...
    assert r.row["drops"] == r.proc_drops == r.network["sockets"]["drops"]
    assert r.row["drops_per_s"] == pytest.approx(r.proc_drops / r.network["window_s"], rel=1e-3)
    assert r.network["window_s"] >= manifest(r.folder)["recording"]["duration_s"]
    # ... and the namespace's RcvbufErrors saw them too (other processes may add their own).
    assert r.network["udp"]["rcvbuf_errors"] >= r.proc_drops
    # Drops are counted by the kernel, not sampled: an idle reader's drops are not rated down.
    assert r.finding["severity"] == "high" and r.finding.get("severity_capped_because") is None
    assert r.finding["confidence"] == 1.0
    # The finding names the socket and states its measured drop rate.
    summary = r.finding["summary"]
    assert f"udp 127.0.0.1:{r.port} (inode {r.row['inode']}, pid {r.pid})" in summary
    assert f"{fmt_value(r.row['drops_per_s'], 'num')} datagrams/s" in summary
    assert f"rb {r.row['rcvbuf']} bytes" in summary
    assert f"{r.row['drops_per_s']:,.1f}" in table_row(r.terminal, r.port)
    md = (r.folder / "report.md").read_text()
    assert f"udp 127.0.0.1:{r.port}" in md and f"{r.row['drops_per_s']:,.1f}" in md


@needs_perf
def test_drops_of_a_receiver_that_sets_so_rcvbuf_point_at_rmem_max(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    r = drop_run(tmp_path, monkeypatch, "--rcvbuf", "4096")
    check_drops_counted(r)
    # setsockopt(SO_RCVBUF, 4096): the kernel doubled it, and the run folder says who set it.
    assert r.row["rcvbuf"] == 8192 and r.row["rcvbuf_set_by_program"] is True and r.row["rcvbuf_basis"] == "set"
    assert "the program sets SO_RCVBUF itself (it asked for about 4096" in r.finding["summary"]
    assert r.finding["values"]["knob"] == "net.core.rmem_max"
    assert "net.core.rmem_max" in offered_or_in_effect(r.finding)
    # rmem_default would not change a buffer the program sizes itself: withheld, and why.
    withheld = {w["id"]: w for w in r.finding["withheld"]}
    assert withheld["sysctl.net.core.rmem_default"]["status"] == "not-applicable"
    assert "sets SO_RCVBUF" in withheld["sysctl.net.core.rmem_default"]["why"]
    assert "program" in table_row(r.terminal, r.port) and "8,192" in table_row(r.terminal, r.port)


@needs_perf
def test_drops_of_a_receiver_that_keeps_the_default_buffer_point_at_rmem_default(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    r = drop_run(tmp_path, monkeypatch)
    check_drops_counted(r)
    rmem_default = int(Path("/proc/sys/net/core/rmem_default").read_text())
    assert r.row["rcvbuf"] == rmem_default and r.row["rcvbuf_set_by_program"] is False
    assert f"rb {rmem_default} bytes = net.core.rmem_default" in r.finding["summary"]
    assert "the program does not set SO_RCVBUF" in r.finding["summary"]
    assert "net.core.rmem_default" in offered_or_in_effect(r.finding)
    withheld = {w["id"]: w for w in r.finding["withheld"]}
    assert withheld["sysctl.net.core.rmem_max"]["status"] == "not-applicable"
    assert "kernel (rmem_default)" in table_row(r.terminal, r.port)
    # In Chinese too, with the same numbers.
    zh = run_cli("analyze", str(r.folder), "--format", "markdown", "--lang", "zh")
    assert zh.returncode == 0, zh.stderr
    assert "程序没有设置 SO\\_RCVBUF" in zh.stdout and f"{r.row['drops_per_s']:,.1f}" in zh.stdout


@needs_perf
def test_a_receiver_that_keeps_up_gets_no_socket_buffer_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    # A large buffer and a modest paced rate: nothing is dropped, whatever the load.
    rx, port = start_receiver("--rcvbuf", str(1 << 20), "--name", "quick-rx")
    folder = tmp_path / "capture"
    try:
        drops_before, _ = proc_socket(rx.pid, port)
        run = Running("--pid", str(rx.pid), "--duration", "3", "--out", str(folder))
        run.wait_started()
        sent, _, _ = send(port, 600, rate=300)
        out, err = run.finish()
        assert run.returncode == 0, err
        drops_after, _ = proc_socket(rx.pid, port)
        time.sleep(0.2)
        got = received(rx)
    finally:
        stop(rx)  # type: ignore[arg-type]
    assert drops_after == drops_before and got == sent == 600  # the premise: it kept up
    network = json.loads((folder / "environment.json").read_text())["network"]
    row = row_of(network, port)
    assert row["drops"] == 0 and row["drops_per_s"] == 0 and row["rcvbuf_set_by_program"] is True
    report = json.loads((folder / "report.json").read_text())
    assert report["measurements"]["sockets"]["measured"] is True
    assert report["measurements"]["sockets"]["receive_buffer"] is None
    assert "udp-receive-drops" not in {f["id"] for f in report["findings"]}
    advised = {r.get("key") or r["id"] for f in report["findings"] for r in f["recommendations"]}
    assert not advised & {*SOCKET_SYSCTLS, "webrtc.receive-buffer"}, advised
    assert "program" in table_row(out, port)  # measured and shown ...
    assert "sysctl -w net.core.rmem" not in out and "sysctl -w net.core.wmem" not in out
    assert "Give the receiving sockets a buffer" not in out  # ... and nothing advised
    md = (folder / "report.md").read_text()
    assert f"udp 127.0.0.1:{port}" in md and "sysctl -w net.core.rmem" not in md


@needs_perf
@pytest.mark.skipif(os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")),
                    reason="needs root, unshare(1) and setpriv(1)")
def test_without_cap_sys_admin_the_run_records_and_says_in_one_line_that_buffer_sizes_are_missing(
        tmp_path: Path) -> None:
    """A target in a network namespace the test creates, recorded by a diagnose run that may not
    enter it (root without CAP_SYS_ADMIN): the profile, drops and queues are recorded; the buffer
    sizes are not, and one line says so."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('127.0.0.1', 4242))\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n")
    target = subprocess.Popen(["unshare", "--net", sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    folder = tmp_path / "capture"
    try:
        assert target.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        proc = run_cli("run", "--pid", str(target.pid), "--duration", "2", "--out", str(folder),
                       prefix=["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"])
    finally:
        target.communicate("", timeout=10)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "socket buffer sizes" in line]
    assert len(said) == 1 and "not collected" in said[0] and "CAP_SYS_ADMIN" in said[0], proc.stderr
    assert said[0].removeprefix("diagnose: warning: ") in manifest(folder)["warnings"]
    network = json.loads((folder / "environment.json").read_text())["network"]
    row = network["sockets"]["busiest"][0]
    assert row["local"] == "127.0.0.1:4242" and row["drops"] == 0 and "rcvbuf" not in row
    assert "CAP_SYS_ADMIN" in network["buffers"]["error"]
    assert "not read" in table_row(proc.stdout, 4242)
