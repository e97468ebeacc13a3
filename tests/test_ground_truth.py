"""The lab's independent measures: fixtures/record/ground_truth.py (per-category sample counts of a
perf script text) and fixtures/record/trim_run_folder.py (a `diagnose run` folder cut down to a
fixture that `diagnose analyze` still reads). Hand-written perf script snippets in tmp_path."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "fixtures" / "record"
DIAGNOSE = ROOT / ".venv" / "bin" / "diagnose"

HEADER = """\
# ========
# perf version : 6.1.187
# event : name = cpu-clock, , id = { 1 }, type = 1, size = 128
# ========
#
"""

# Go sender: SessionSRTP.writeRTP -> net -> sendto; the loopback receiver's delivery runs inside
# the sendto (net_rx_action ... __udp_enqueue_schedule_skb).
SEND_LOOPBACK = """\
pion 100/101  1000.000100:   10101010 cpu-clock: 
\tffffffff81000001 __udp_enqueue_schedule_skb+0x10 ([kernel.kallsyms])
\tffffffff81000002 udp_queue_rcv_one_skb+0x10 ([kernel.kallsyms])
\tffffffff81000003 __udp4_lib_rcv+0x10 ([kernel.kallsyms])
\tffffffff81000004 ip_local_deliver_finish+0x10 ([kernel.kallsyms])
\tffffffff81000005 __netif_receive_skb_one_core+0x10 ([kernel.kallsyms])
\tffffffff81000006 process_backlog+0x10 ([kernel.kallsyms])
\tffffffff81000007 __napi_poll+0x10 ([kernel.kallsyms])
\tffffffff81000008 net_rx_action+0x10 ([kernel.kallsyms])
\tffffffff81000009 __do_softirq+0x10 ([kernel.kallsyms])
\tffffffff8100000a __local_bh_enable_ip+0x10 ([kernel.kallsyms])
\tffffffff8100000b ip_finish_output2+0x10 ([kernel.kallsyms])
\tffffffff8100000c udp_send_skb+0x10 ([kernel.kallsyms])
\tffffffff8100000d udp_sendmsg+0x10 ([kernel.kallsyms])
\tffffffff8100000e __sys_sendto+0x10 ([kernel.kallsyms])
\tffffffff8100000f __x64_sys_sendto+0x10 ([kernel.kallsyms])
\tffffffff81000010 do_syscall_64+0x10 ([kernel.kallsyms])
\tffffffff81000011 entry_SYSCALL_64_after_hwframe+0x10 ([kernel.kallsyms])
\t          4a1000 runtime/internal/syscall.Syscall6+0x10 (/tmp/pion-lab)
\t          4a1100 syscall.sendto+0x10 (/tmp/pion-lab)
\t          4a1200 internal/poll.(*FD).WriteTo+0x10 (/tmp/pion-lab)
\t          4a1300 net.(*UDPConn).WriteTo+0x10 (/tmp/pion-lab)
\t          4a1400 github.com/pion/srtp/v2.(*SessionSRTP).writeRTP+0x10 (/tmp/pion-lab)
\t          4a1500 runtime.goexit.abi0+0x1 (/tmp/pion-lab)

"""

# The same call path, ticked inside udp_sendmsg (no receive-side frame): syscall:send, no loopback.
SEND_PLAIN = """\
pion 100/101  1000.000200:   10101010 cpu-clock: 
\tffffffff8100000d udp_sendmsg+0x20 ([kernel.kallsyms])
\tffffffff8100000e __sys_sendto+0x10 ([kernel.kallsyms])
\tffffffff8100000f __x64_sys_sendto+0x10 ([kernel.kallsyms])
\tffffffff81000010 do_syscall_64+0x10 ([kernel.kallsyms])
\tffffffff81000011 entry_SYSCALL_64_after_hwframe+0x10 ([kernel.kallsyms])
\t          4a1000 runtime/internal/syscall.Syscall6+0x10 (/tmp/pion-lab)
\t          4a1100 syscall.sendto+0x10 (/tmp/pion-lab)
\t          4a1200 internal/poll.(*FD).WriteTo+0x10 (/tmp/pion-lab)
\t          4a1600 github.com/pion/srtp/v2.(*srtpCipherAeadAesGcm).encryptRTP+0x10 (/tmp/pion-lab)
\t          4a1400 github.com/pion/srtp/v2.(*SessionSRTP).writeRTP+0x10 (/tmp/pion-lab)

"""

# Leaf in Go's AES-GCM assembly under SessionSRTP.writeRTP: crypto.
CRYPTO = """\
pion 100/102  1000.000300:   10101010 cpu-clock: 
\t          4b0000 crypto/aes.gcmAesEnc+0x100 (/tmp/pion-lab)
\t          4b0100 crypto/aes.(*gcmAsm).Seal+0x10 (/tmp/pion-lab)
\t          4a1600 github.com/pion/srtp/v2.(*srtpCipherAeadAesGcm).encryptRTP+0x10 (/tmp/pion-lab)
\t          4a1400 github.com/pion/srtp/v2.(*SessionSRTP).writeRTP+0x10 (/tmp/pion-lab)
\t          4a1500 runtime.goexit.abi0+0x1 (/tmp/pion-lab)

"""

# User-only stack whose leaf is the Go system-call wrapper: user:syscall-wrapper (not go-net-io).
WRAPPER_LEAF = """\
pion 100/103  1000.000400:   10101010 cpu-clock: 
\t          4a1000 runtime/internal/syscall.Syscall6+0x30 (/tmp/pion-lab)
\t          4a1100 syscall.sendto+0x10 (/tmp/pion-lab)
\t          4a1200 internal/poll.(*FD).WriteTo+0x10 (/tmp/pion-lab)

"""

# NACK responder resending: deepest recognised frame is Go's memmove -> memcpy; nack-resend inclusive.
NACK_MEMMOVE = """\
pion 100/103  1000.000500:   10101010 cpu-clock: 
\t          4c0000 runtime.memmove+0x20 (/tmp/pion-lab)
\t          4c0100 github.com/pion/rtp.(*Packet).MarshalTo+0x10 (/tmp/pion-lab)
\t          4c0200 github.com/pion/interceptor/pkg/nack.(*ResponderInterceptor).resendPackets+0x10 (/tmp/pion-lab)

"""

# Another process (pid 200, C, default perf format would not matter here): a write() whose kernel
# entry frame is inlined away (ksys_write only), and a return-path schedule named by glibc's wrapper.
OTHER_PID = """\
janus 200/200  1000.000600:   10101010 cpu-clock: 
\tffffffff81200000 eventfd_write+0x10 ([kernel.kallsyms])
\tffffffff81200100 vfs_write+0x10 ([kernel.kallsyms])
\tffffffff81200200 ksys_write+0x10 ([kernel.kallsyms])
\tffffffff81000010 do_syscall_64+0x10 ([kernel.kallsyms])
\tffffffff81000011 entry_SYSCALL_64_after_hwframe+0x10 ([kernel.kallsyms])
\t           f8350 __GI___libc_write+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t            9000 janus_ice_send+0x10 (/usr/bin/janus)

hloop 12 200/201  1000.000700:   10101010 cpu-clock: 
\tffffffff81300000 finish_task_switch.isra.0+0x10 ([kernel.kallsyms])
\tffffffff81300100 schedule+0x10 ([kernel.kallsyms])
\tffffffff81300200 exit_to_user_mode_loop+0x10 ([kernel.kallsyms])
\tffffffff81000010 do_syscall_64+0x10 ([kernel.kallsyms])
\tffffffff81000011 entry_SYSCALL_64_after_hwframe+0x10 ([kernel.kallsyms])
\t           f8350 __GI___libc_write+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t            9100 g_wakeup_signal+0x10 (/usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.7400.6)

hloop 12 200/201  1000.000800:   10101010 cpu-clock: 
\t           a0000 PK11_Encrypt+0x10 (/usr/lib/x86_64-linux-gnu/libnss3.so)
\t           a0100 srtp_protect+0x10 (/usr/lib/x86_64-linux-gnu/libsrtp2.so.1)
\t            9200 janus_ice_send_thread+0x10 (/usr/bin/janus)

hloop 12 200/201  1000.000900:   10101010 cpu-clock: 
\tffffffff81400000 clear_page_erms+0x10 ([kernel.kallsyms])
\tffffffff81400100 handle_mm_fault+0x10 ([kernel.kallsyms])
\tffffffff81400200 exc_page_fault+0x10 ([kernel.kallsyms])
\tffffffff81400300 asm_exc_page_fault+0x10 ([kernel.kallsyms])
\t           b0000 __memmove_avx_unaligned_erms+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)

janus 200/200  1000.001000:   10101010 cpu-clock: 

"""


def write_script(tmp_path: Path, *parts: str, gz: bool = True) -> Path:
    text = HEADER + "".join(parts)
    if gz:
        path = tmp_path / "perf.script.txt.gz"
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path = tmp_path / "perf.script.txt"
        path.write_text(text)
    return path


def ground_truth(path: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(RECORD / "ground_truth.py"), str(path), *args],
                         capture_output=True, text=True, check=True).stdout
    data = yaml.safe_load(out)
    assert isinstance(data, dict), out
    return data


def cat(data: dict, name: str) -> int:
    return data["categories"].get(name, {}).get("samples", 0)


def test_loopback_delivery_in_sendto_counts_once_as_send(tmp_path: Path) -> None:
    gt = ground_truth(write_script(tmp_path, SEND_LOOPBACK))
    assert gt["samples"] == 1
    assert gt["categories"] == {"syscall:send": {"samples": 1, "share": 1.0}}
    assert gt["syscalls"] == {"sendto": 1}
    assert gt["loopback_delivery_in_send"] == 1
    assert gt["inclusive"]["srtp-session-write"]["samples"] == 1
    assert gt["inclusive"]["syscall-entry"]["samples"] == 1
    assert gt["top_self"] == {"__udp_enqueue_schedule_skb ([kernel.kallsyms])": {"samples": 1, "share": 1.0}}


def test_crypto_leaf_under_session_write_is_crypto(tmp_path: Path) -> None:
    gt = ground_truth(write_script(tmp_path, CRYPTO))
    assert gt["categories"] == {"crypto": {"samples": 1, "share": 1.0}}
    assert gt["syscalls"] == {}
    assert gt["inclusive"]["crypto-inclusive"]["samples"] == 1
    assert gt["inclusive"]["srtp-session-write"]["samples"] == 1


def test_send_below_a_crypto_caller_is_syscall_not_crypto(tmp_path: Path) -> None:
    gt = ground_truth(write_script(tmp_path, SEND_PLAIN, CRYPTO, SEND_LOOPBACK), "--pid", "100")
    assert gt["samples"] == 3
    assert cat(gt, "syscall:send") == 2
    assert cat(gt, "crypto") == 1
    assert gt["categories"]["syscall:send"]["share"] == round(2 / 3, 4)
    assert gt["loopback_delivery_in_send"] == 1  # SEND_PLAIN has no receive-side frame
    # encryptRTP is a crypto frame (pion srtp cipher), so the send below it is crypto-inclusive too
    assert gt["inclusive"]["crypto-inclusive"]["samples"] == 2
    assert gt["top_inclusive"]["github.com/pion/srtp/v2.(*SessionSRTP).writeRTP (pion-lab)"]["samples"] == 3


# glibc's versioned symbol names (cfree@GLIBC_2.2.5) are matched without the version: malloc.
VERSIONED_FREE = """\
janus 200/202  1000.001100:   10101010 cpu-clock: 
\t           c0000 cfree@GLIBC_2.2.5+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t            9300 janus_rtp_packet_free+0x10 (/usr/bin/janus)

"""


def test_wrapper_leaf_and_go_memmove(tmp_path: Path) -> None:
    gt = ground_truth(write_script(tmp_path, WRAPPER_LEAF, NACK_MEMMOVE, VERSIONED_FREE, gz=False))
    assert gt["categories"] == {"malloc": {"samples": 1, "share": 0.3333},
                                "memcpy": {"samples": 1, "share": 0.3333},
                                "user:syscall-wrapper": {"samples": 1, "share": 0.3333}}
    assert gt["top_self"]["cfree@GLIBC_2.2.5 (libc.so.6)"]["samples"] == 1
    assert gt["inclusive"]["nack-resend"]["samples"] == 1
    assert gt["inclusive"]["pion-interceptors"]["samples"] == 1
    assert gt["syscalls"] == {}


def test_pid_filter_and_c_server_stacks(tmp_path: Path) -> None:
    path = write_script(tmp_path, SEND_LOOPBACK, CRYPTO, OTHER_PID)
    both = ground_truth(path)
    assert both["samples"] == 6
    assert both["samples_without_stack"] == 1
    assert both["by_pid"] == {100: 2, 200: 4}
    assert both["by_comm"] == {"hloop 12": 3, "pion": 2, "janus": 1}

    janus = ground_truth(path, "--pid", "200")
    assert janus["samples"] == 4
    assert janus["by_pid"] == {200: 4}
    # ksys_write (no __x64_sys_write frame) and the return-path schedule under __GI___libc_write
    assert janus["syscalls"] == {"write": 2}
    assert cat(janus, "syscall:write") == 2
    assert janus["loopback_delivery_in_send"] == 0
    assert cat(janus, "crypto") == 1  # PK11_Encrypt (libnss3) under srtp_protect
    assert cat(janus, "kernel:page-fault") == 1
    assert janus["inclusive"]["crypto-inclusive"]["samples"] == 1
    assert "syscall:send" not in janus["categories"]

    pion = ground_truth(path, "--pid", "100", "--pid", "999")
    assert pion["samples"] == 2
    assert set(pion["categories"]) == {"syscall:send", "crypto"}


# -- trim_run_folder.py ---------------------------------------------------------------------

def make_run_folder(folder: Path, script: Path) -> dict:
    folder.mkdir()
    (folder / "perf.data").write_bytes(b"PERFILE2" + b"\0" * 100)
    (folder / "perf.script.txt.gz").write_bytes(script.read_bytes())
    (folder / "stacks.folded").write_text("pion-100/101;x 1\n")
    (folder / "environment.json").write_text(json.dumps({"schema": "test", "processes": []}))
    (folder / "report.json").write_text("{}")
    files = []
    for name, role in [("perf.data", "perf-data"), ("perf.script.txt.gz", "perf-script"),
                       ("stacks.folded", "folded-stacks"), ("environment.json", "environment"),
                       ("report.json", "report-json")]:
        data = (folder / name).read_bytes()
        files.append({"path": name, "role": role, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {
        "schema": "diagnose.capture/v1", "complete": True, "created": "2026-01-01T00:00:00+00:00",
        "diagnose": {"version": "0.1.0", "command": ["diagnose", "run", "--pid", "100"]},
        "perf": {"version": "6.1.187", "record_command": ["perf", "record"], "messages": []},
        "recording": {"start": "2026-01-01T00:00:00+00:00", "duration_s": 2.0, "frequency_hz": 99,
                      "call_graph": "fp", "event": "cpu-clock", "stopped_by": "duration",
                      "requested_duration_s": 2.0, "pids": [100], "name_pattern": None, "exited": []},
        "warnings": ["a warning kept as it is"],
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def test_trim_run_folder_keeps_an_analysable_capture(tmp_path: Path) -> None:
    script = write_script(tmp_path, SEND_LOOPBACK, SEND_PLAIN, CRYPTO, WRAPPER_LEAF, NACK_MEMMOVE)
    original = make_run_folder(tmp_path / "x.run", script)
    dest = tmp_path / "lab" / "x"
    dest.mkdir(parents=True)
    (dest / "stale.txt").write_text("from an earlier recording")

    subprocess.run([sys.executable, str(RECORD / "trim_run_folder.py"), str(tmp_path / "x.run"), str(dest)],
                   check=True, capture_output=True)

    assert sorted(p.name for p in dest.iterdir()) == ["environment.json", "manifest.json", "perf.script.txt.gz"]
    manifest = json.loads((dest / "manifest.json").read_text())
    by_path = {e["path"]: e for e in original["files"]}
    assert manifest["files"] == [by_path["perf.script.txt.gz"], by_path["environment.json"]]
    assert {k: v for k, v in manifest.items() if k != "files"} == {k: v for k, v in original.items() if k != "files"}
    for entry in manifest["files"]:
        data = (dest / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()

    result = subprocess.run([str(DIAGNOSE), "analyze", str(dest), "--format", "json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["capture"]["format"] == "perf-script"
    assert sum(report["capture"]["events"].values()) == 5


def test_trim_run_folder_recomputes_missing_hashes(tmp_path: Path) -> None:
    script = write_script(tmp_path, CRYPTO)
    original = make_run_folder(tmp_path / "y.run", script)
    for entry in original["files"]:
        entry.pop("sha256")
        entry.pop("bytes")
    (tmp_path / "y.run" / "manifest.json").write_text(json.dumps(original))
    dest = tmp_path / "y"
    subprocess.run([sys.executable, str(RECORD / "trim_run_folder.py"), str(tmp_path / "y.run"), str(dest)],
                   check=True, capture_output=True)
    files = json.loads((dest / "manifest.json").read_text())["files"]
    assert [e["path"] for e in files] == ["perf.script.txt.gz", "environment.json"]
    data = (dest / "perf.script.txt.gz").read_bytes()
    assert files[0]["sha256"] == hashlib.sha256(data).hexdigest() and files[0]["bytes"] == len(data)
