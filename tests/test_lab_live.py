"""`diagnose run` on real WebRTC servers started by the test: the lab's Pion program (two
PeerConnections in one Go process, synthetic VP8 over loopback, DTLS-SRTP AES-GCM, Pion's default
interceptors), built offline against Debian's Pion; and Janus's EchoTest with a GStreamer
webrtcbin client, run by the lab's own script in a private network namespace. What the lab
fixtures show from stored recordings, shown here live on this machine."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from test_run import perf_can_record, stop

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from perf_samples import samples  # noqa: E402

RECORD = ROOT / "fixtures" / "record"
PION = Path("/usr/share/gocode/src/github.com/pion/webrtc")


def _no_pion() -> str | None:
    if perf_can_record() is not None:
        return perf_can_record()
    if shutil.which("go") is None or not PION.is_dir():
        return "Go and Debian's Pion are not installed (apt-get install golang-go golang-github-pion-webrtc.v3-dev)"
    return None


def _no_janus() -> str | None:
    if perf_can_record() is not None:
        return perf_can_record()
    if os.geteuid() != 0:
        return "the Janus lab creates a network namespace: run as root"
    if shutil.which("janus") is None or shutil.which("ip") is None:
        return "Janus is not installed (apt-get install janus iproute2)"
    gi = subprocess.run(["/usr/bin/python3", "-c", "import gi; gi.require_version('GstWebRTC', '1.0')"],
                        capture_output=True)
    if gi.returncode != 0:
        return ("GStreamer webrtcbin for Python is not installed (apt-get install python3-gi gir1.2-gst-plugins-bad-1.0 "
                "gstreamer1.0-plugins-bad gstreamer1.0-nice gstreamer1.0-plugins-good)")
    return None


def build(work: Path) -> Path:
    out = work / "pion-live"
    subprocess.run(["bash", "-c", f'source "{RECORD}/_lib.sh"; source "{RECORD}/_lab.sh"; '
                                  f'lab_go_build "{RECORD}/pion/pionlab" "{out}"'],
                   env={"PATH": "/usr/local/bin:/usr/bin:/bin", "WORK_DIR": str(work), "HOME": str(work)},
                   check=True, capture_output=True, timeout=600)
    return out


def wait_for_media(stats: Path, timeout: float = 60) -> None:
    """Until the program's counters show RTP arriving (one JSON line per second)."""
    end, first = time.monotonic() + timeout, None
    while time.monotonic() < end:
        lines = [ln for ln in stats.read_text().splitlines() if ln.endswith("}")]
        if lines:
            got = json.loads(lines[-1]).get("rtp_in", 0)
            if first is None:
                first = got
            elif got > first:
                return
        time.sleep(0.5)
    raise AssertionError(f"no media after {timeout} s: {stats.read_text()[-500:]}")


@pytest.mark.skipif(_no_pion() is not None, reason=str(_no_pion()))
def test_a_live_pion_call(tmp_path: Path) -> None:
    binary = build(tmp_path)
    stats = tmp_path / "stats.jsonl"
    with open(stats, "w") as out:
        call = subprocess.Popen([str(binary), "p2p", "-tracks", "6", "-bitrate", "2000000", "-max-seconds", "60"],
                                stdout=out, stderr=subprocess.DEVNULL)
    try:
        wait_for_media(stats)
        folder = tmp_path / "capture"
        proc = run_cli("run", "--pid", str(call.pid), "--duration", "4", "--frequency", "999", "--out", str(folder),
                       "--format", "json", timeout=300)
    finally:
        stop(call)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["platform"]["stacks"][0]["id"] == "pion"
    signals = {s["id"] for s in report["platform"]["signals"]}
    assert "gcm-running" in signals
    # AES-NI: Go's gcmAes* assembly on this amd64 machine. A 4 s capture holds a few of its samples
    # at most, so the signal must agree with them (it needs 2), rather than always be there.
    aes_ni = re.compile(r".*gcmAes(Enc|Dec|Data|Init|Finish).*|crypto/aes\.(encryptBlockAsm|decryptBlockAsm|expandKeyAsm)")
    seen = sum(1 for s in samples(folder / "perf.script.txt.gz") if any(aes_ni.fullmatch(f) for f, _ in s.frames))
    assert ("aes-ni-running" in signals) == (seen >= 2), (seen, sorted(signals))
    # One row per system call: Go's one wrapper makes both the sends and the receives.
    calls = {c["name"]: c for c in report["profile"]["syscalls"]["calls"]}
    assert calls["sendto"]["direction"] == "send" and calls["recvfrom"]["direction"] == "receive"
    for name in ("sendto", "recvfrom"):
        assert any("Syscall6" in c["name"] for c in calls[name]["callers"]), calls[name]["callers"]
    assert calls["sendto"]["loopback_delivery"] > 0  # the receiver's delivery, paid inside the send
    # Crypto is the ciphers only: far less than everything under SessionSRTP.writeRTP.
    components = {c["id"]: c["share"] for c in report["profile"]["components"]}
    write_rtp = max((f["inclusive_share"] for f in report["profile"]["functions"]
                     if f["name"].endswith("(*SessionSRTP).writeRTP")), default=0.0)
    assert components.get("crypto", 0.0) < write_rtp
    ids = {f["id"] for f in report["findings"]}
    assert not ids & {"pacer-gcc-hot", "lock-contention", "udp-receive-drops", "nack-retransmission-heavy"}
    offered = {r["id"] for f in report["findings"] for r in f["recommendations"]}
    assert not offered & {"code.recvmmsg", "system.libsrtp-openssl", "system.aes-ni", "webrtc.srtp-gcm"}


@pytest.mark.skipif(_no_janus() is not None, reason=str(_no_janus()))
def test_a_live_janus_echotest_recorded_by_the_lab_script(tmp_path: Path) -> None:
    env = {**os.environ, "WORK_DIR": str(tmp_path / "work"), "FIXTURES_DIR": str(tmp_path), "LAB_SECS": "4",
           "LAB_PEERS": "2", "LAB_FREQUENCY": "999"}
    proc = subprocess.run(["bash", str(RECORD / "janus-echotest.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "lab" / "janus-echotest"
    sidecar = (tmp_path / "lab" / "janus-echotest.yaml").read_text()
    assert "ground_truth:" in sidecar and "SRTP_AES128_CM_SHA1_80" in sidecar
    report = json.loads(run_cli("analyze", str(folder), "--format", "json").stdout)
    assert report["platform"]["stacks"][0]["id"] == "janus"
    assert "nss-srtp" in {s["id"] for s in report["platform"]["signals"]}
    assert {p["comm"] for p in report["capture"]["processes"]} == {"janus"}
    assert any(t["comm"].startswith("hloop") and t["role"].startswith("Janus") for t in report["capture"]["threads"])
    components = {c["id"]: c["share"] for c in report["profile"]["components"]}
    assert components.get("crypto", 0) > 0.05  # SRTP in NSS's stripped libraries, recognised by module
    # the namespace the script made is gone again
    assert "janus-lab" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
