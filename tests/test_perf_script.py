"""Reading `perf script` text into a profile: the shapes perf 4.x to 6.x print, exact counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from conftest import fixture, run_cli
from diagnose.errors import DiagnoseError
from diagnose.inputs import perf_lines, perf_script
from diagnose.inputs.perf_reader import parse_chunks
from diagnose.inputs.source import read_chunks
from diagnose.pipeline import load_profile

K = "[kernel.kallsyms]"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
APP = "/usr/bin/app"


def sample(comm: str, pid: int | None, tid: int, t: float, frames: list[tuple[str, str]], period: int = 10101010,
           event: str = "cpu-clock:ppp", cpu: int | None = 0) -> str:
    """One sample as perf prints it; frames leaf first, (symbol, dso)."""
    who = f"{pid}/{tid}" if pid is not None else f"{tid}"
    cpu_part = f" [{cpu:03d}]" if cpu is not None else ""
    lines = [f"{comm} {who}{cpu_part} {t:.6f}: {period:10d} {event}: "]
    for i, (sym, dso) in enumerate(frames):
        addr = 0xFFFFFFFF81000000 + i * 0x100 if dso == K else 0x7F0000001000 + i * 0x100
        shown = sym if sym == "[unknown]" else f"{sym}+0x{i + 4:x}"
        lines.append(f"\t{addr:16x} {shown} ({dso})")
    return "\n".join(lines) + "\n\n"


def write(tmp_path: Path, text: str, name: str = "capture.txt") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def by_name(profile):
    inc, slf = profile.inclusive_counts(), profile.self_counts()
    out = {}
    for i, f in enumerate(profile.frames):
        out[f.name] = (slf[i], inc[i], f.kind, f.module)
    return out


def test_recursion_counts_each_frame_once_per_sample(tmp_path: Path) -> None:
    stack = [("fib", APP), ("fib", APP), ("fib", APP), ("compute", APP), ("fib", APP), ("main", APP)]
    text = sample("app", 10, 10, 1.0, stack) + sample("app", 10, 10, 1.1, [("main", APP)])
    p = load_profile(write(tmp_path, text))
    p.check()
    f = by_name(p)
    assert p.stack_samples == 2
    assert f["fib"][:2] == (1, 1)  # self 1, inclusive 1: not 4
    assert f["main"][:2] == (1, 2)
    assert f["compute"][:2] == (0, 1)


def test_multi_process_and_multi_thread_attribution(tmp_path: Path) -> None:
    text = "".join([
        sample("peer", 100, 100, 1.00, [("main_loop", APP)]),
        sample("network_thread", 100, 101, 1.01, [("recvmsg", LIBC), ("net", APP)]),
        sample("network_thread", 100, 101, 1.02, [("recvmsg", LIBC), ("net", APP)]),
        sample("peer", 200, 200, 1.03, [("main_loop", APP)]),
        sample("worker_thread", 200, 205, 1.04, [("encode", APP)]),
    ])
    p = load_profile(write(tmp_path, text))
    p.check()
    threads = {(t.comm, t.pid, t.tid) for t in p.threads}
    assert threads == {("peer", 100, 100), ("network_thread", 100, 101), ("peer", 200, 200),
                       ("worker_thread", 200, 205)}
    from diagnose.callgraph import build_call_graph
    from diagnose.summary import summarize

    s = summarize(p, build_call_graph(p))
    procs = {r.key["pid"]: r.share.k for r in s.processes}
    assert procs == {100: 3, 200: 2}
    assert {r.label: r.share.k for r in s.processes} == {"peer 100": 3, "peer 200": 2}


def test_kernel_only_and_user_only_stacks(tmp_path: Path) -> None:
    # (a kernel thread: the idle task's halted samples would be left out, see test_system_wide.py)
    kernel_only = [("clear_page_erms", K), ("process_one_work", K), ("worker_thread", K), ("kthread", K)]
    user_only = [("spin", APP), ("main", APP), ("__libc_start_main", LIBC)]
    text = sample("kworker/0:1", 30, 30, 1.0, kernel_only) * 3 + sample("app", 7, 7, 1.1, user_only)
    p = load_profile(write(tmp_path, text))
    p.check()
    f = by_name(p)
    assert all(f[n][2] == "kernel" for n, _ in kernel_only)
    assert all(f[n][2] == "user" for n, _ in user_only)
    from diagnose.callgraph import build_call_graph
    from diagnose.summary import summarize

    s = summarize(p, build_call_graph(p))
    split = {r.label: r.share.k for r in s.kernel_user}
    assert split == {"kernel": 3, "user": 1}


def test_unknown_frames_take_the_module_name_and_kernel_addresses_are_kernel(tmp_path: Path) -> None:
    text = (
        "ffmpeg 5/5 [000] 1.000000:   10101010 cpu-clock: \n"
        "\t    7f3a00011234 [unknown] (/usr/lib/x86_64-linux-gnu/libvpx.so.7.1.0)\n"
        "\t    7f3a00022222 [unknown] (/usr/lib/x86_64-linux-gnu/libvpx.so.7.1.0)\n"
        "\t          401000 main+0x10 (/usr/bin/ffmpeg)\n\n"
        "ffmpeg 5/5 [000] 1.010000:   10101010 cpu-clock: \n"
        "\tffffffff9b201293 [unknown] ([unknown])\n"
        "\t    7f3a00033333 [unknown] ([unknown])\n\n"
    )
    p = load_profile(write(tmp_path, text))
    p.check()
    names = {(f.name, f.module, f.kind) for f in p.frames}
    assert ("[libvpx.so.7.1.0]", "/usr/lib/x86_64-linux-gnu/libvpx.so.7.1.0", "user") in names
    assert ("[unknown]", "", "kernel") in names  # hidden kernel symbols still count as kernel
    assert ("[unknown]", "", "user") in names
    f = by_name(p)
    assert f["[libvpx.so.7.1.0]"][:2] == (1, 1)  # two frames of one library in a stack: once


def test_perf_inlined_frames_belong_to_the_function_they_were_inlined_into(tmp_path: Path) -> None:
    text = (
        "app 9/9 [001] 2.000000:    1001001 cpu-clock:ppp: \n"
        "\t            11b4 inner (inlined)\n"
        "\t            11b4 middle (inlined)\n"
        "\t            11b4 outer+0x24 (/tmp/inl/t)\n"
        "\t           2724a __libc_start_call_main+0x7a (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\n"
    )
    p = load_profile(write(tmp_path, text))
    p.check()
    frames = [p.frames[i] for i in p.stacks[0].frames]
    assert [f.name for f in frames] == ["__libc_start_call_main", "outer", "middle", "inner"]
    assert {f.module for f in frames[1:]} == {"/tmp/inl/t"}
    assert p.self_counts()[p.stacks[0].frames[-1]] == 1


def test_java_inline_chains_split_into_frames(tmp_path: Path) -> None:
    text = ("java 10488  9962.523711:   10101010 cpu-clock: \n"
            "\t    7f89cc45c5c3 Ljava/io/BufferedWriter;::flushBuffer->Ljava/io/Writer;::write+0x4b (/tmp/perf-10487.map)\n"
            "\t    7f89c4988849 call_stub+0x8a (/tmp/perf-10487.map)\n\n")
    p = load_profile(write(tmp_path, text))
    names = [p.frames[i].name for i in p.stacks[0].frames]
    assert names == ["call_stub", "java/io/BufferedWriter:::flushBuffer", "java/io/Writer:::write"]


def test_samples_without_a_stack_count_in_the_total_not_in_shares(tmp_path: Path) -> None:
    text = sample("app", 1, 1, 1.0, [("work", APP)]) * 3 + "app 1/1 [000] 1.500000:   10101010 cpu-clock:ppp: \n\n"
    p = load_profile(write(tmp_path, text))
    p.check()
    assert p.total_samples == 4
    assert p.stack_samples == 3
    assert p.capture.stackless_samples == 1
    assert sum(p.self_counts()) == p.stack_samples


def test_several_events_default_to_cpu_time_and_event_option_chooses(tmp_path: Path) -> None:
    text = (sample("app", 1, 1, 1.0, [("count_insns", APP)], event="instructions")
            + sample("app", 1, 1, 1.0, [("burn", APP)], event="cpu-clock")
            + sample("app", 1, 1, 1.1, [("burn", APP)], event="cpu-clock"))
    path = write(tmp_path, text)
    p = load_profile(path)
    assert p.capture.event == "cpu-clock"
    assert {f.name for f in p.frames} == {"burn"}
    assert any("instructions" in w for w in p.capture.warnings)
    p2 = load_profile(path, event="instructions")
    assert {f.name for f in p2.frames} == {"count_insns"}
    with pytest.raises(DiagnoseError, match="cpu-clock, instructions"):
        load_profile(path, event="cycles")


def test_truncated_last_sample_is_analysed_with_a_warning(tmp_path: Path) -> None:
    full = sample("app", 1, 1, 1.0, [("a", APP), ("main", APP)]) + sample("app", 1, 1, 1.1, [("b", APP), ("main", APP)])
    cut = full[: full.rindex("main")]  # perf killed in the middle of the last line
    p = load_profile(write(tmp_path, cut))
    assert p.total_samples == 2
    assert p.capture.truncated
    assert any("ends inside a sample" in w for w in p.capture.warnings)


def test_crlf_comments_and_blank_runs_do_not_change_the_result(tmp_path: Path) -> None:
    base = sample("app", 1, 1, 1.0, [("a", APP), ("main", APP)]) + sample("app", 1, 1, 1.1, [("b", APP), ("main", APP)])
    messy = "# header\n#\n\n\n" + base.replace("\n\n", "\n\n\n# a comment between samples\n").replace("\n", "\r\n")
    a = load_profile(write(tmp_path, base, "a.txt"))
    b = load_profile(write(tmp_path, messy, "b.txt"))
    assert sorted((p.frames[s.frames[-1]].name, s.samples) for p in [a] for s in a.stacks) == \
        sorted((b.frames[s.frames[-1]].name, s.samples) for s in b.stacks)


def test_samples_printed_on_one_line_without_call_chains(tmp_path: Path) -> None:
    text = ("           false 39654 19115.489713:          1 cycles:u:  ffffffff9b201293 [unknown] ([unknown])\n"
            "           false 39654 19115.489719:          1 cycles:u:      7fa68b1f2d84 _dl_start+0x4 (/usr/lib/ld-2.31.so)\n")
    p = load_profile(write(tmp_path, text))
    p.check()
    assert p.total_samples == 2
    assert {f.name for f in p.frames} == {"[unknown]", "_dl_start"}


def test_default_perf_format_without_pid(tmp_path: Path) -> None:
    text = ("sh  1944  2997.453385:   10101010 cpu-clock:ppp: \n"
            "\t          167158 __strcmp_evex+0x38 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
            "\t           10020 [unknown] ([unknown])\n\n")
    p = load_profile(write(tmp_path, text))
    assert [(t.comm, t.pid, t.tid) for t in p.threads] == [("sh", None, 1944)]
    assert p.capture.frequency_hz == pytest.approx(99.0, abs=0.01)
    assert p.capture.frequency_source == "period"


def test_header_gives_frequency_and_perf_record_command_gives_duration() -> None:
    p = load_profile(str(fixture("original-report-shape.perf.txt.gz")))
    assert p.capture.frequency_hz == 99
    assert p.capture.frequency_source == "header"
    assert p.capture.duration_s == 30
    assert p.capture.duration_source == "perf record command"
    assert p.capture.hostname == "rtc-host"


def test_duration_from_time_stamps_spans_one_interval_per_sample(tmp_path: Path) -> None:
    text = "".join(sample("app", 1, 1, 10.0 + i / 100, [("spin", APP)]) for i in range(100))
    text = "# event : name = cpu-clock, , { sample_period, sample_freq } = 100, freq = 1\n" + text
    p = load_profile(write(tmp_path, text))
    assert p.capture.duration_source == "sample time stamps"
    assert p.capture.duration_s == pytest.approx(1.0)


def _big_input(tmp_path: Path) -> Path:
    """About 3 MB of real samples, with varied leaf addresses, to cut into many chunks."""
    raw = gzip.decompress(fixture("socat-unix-ipc.perf.txt.gz").read_bytes())
    body = raw[raw.index(b"\n\n") + 2:]
    out = tmp_path / "big.txt"
    with out.open("wb") as f:
        for i in range(6):
            f.write(body.replace(b"\t    7f", b"\t    7e" if i % 2 else b"\t    7f"))
    return out


def test_parallel_parse_equals_serial_parse(tmp_path: Path) -> None:
    path = _big_input(tmp_path)
    small = 256 * 1024
    serial, _ = parse_chunks(read_chunks(str(path), small), jobs=1)
    from diagnose.inputs import perf_reader
    pieces = read_chunks(str(path), small)
    parallel, _ = perf_reader.parse_chunks(pieces, jobs=2)

    def canon(parse):
        out = {}
        for (thread, event, strict, fids), (n, w) in parse.items():
            key = (thread, event, strict, tuple(parse.frames[f] for f in fids))
            out[key] = (n, w)
        return out

    assert canon(serial) == canon(parallel)
    assert {e: s.samples for e, s in serial.events.items()} == {e: s.samples for e, s in parallel.events.items()}


def test_memory_grows_with_unique_stacks_not_input_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caches that make parsing fast are bounded; what is kept grows with unique stacks only."""
    monkeypatch.setattr(perf_lines, "BODY_CACHE_LIMIT", 50)  # the frame table's caches (perf_lines)
    monkeypatch.setattr(perf_lines, "LINE_CACHE_LIMIT", 100)
    parser = perf_script.ChunkParser()
    text = "".join(sample("app", 1, 1, 1 + i / 1000, [("spin", APP), ("main", APP)]).replace(
        "7f0000001000", f"{0x7f0000001000 + i:x}") for i in range(2000)).encode()
    parser.feed(text, 0, 1, last=True)
    assert len(parser._body_cache) <= 51
    assert len(parser._line_cache) <= 101 + 2
    out = parser.finish()
    assert len(out.counts) == 1
    assert out.counts[next(iter(out.counts))][0] == 2000


def test_runs_of_blank_lines_lose_no_sample(tmp_path: Path) -> None:
    one = sample("app", 1, 1, 1.0, [("a", APP), ("main", APP)])
    two = sample("app", 1, 1, 1.1, [("b", APP), ("main", APP)])
    for text in ("\n" + one + two, one + "\n" + two, one + "\n\n\n" + two,
                 "# ========\n# cmdline : perf record -g\n# ========\n\n" + one + two):
        p = load_profile(write(tmp_path, text))
        assert p.total_samples == 2, repr(text[:80])
        assert not p.capture.truncated


def test_samples_without_call_chains_are_not_taken_for_a_cut_off_capture(tmp_path: Path) -> None:
    text = ("app 1/1 [000] 1.000000:   10101010 cpu-clock: \n"
            "app 1/1 [000] 1.010000:   10101010 cpu-clock: \n"
            "app 1/1 [000] 1.020000:   10101010 cpu-clock: \n")
    p = load_profile(write(tmp_path, text))
    assert p.total_samples == 3 and not p.capture.truncated


def test_a_module_path_with_spaces_is_still_perf_script(tmp_path: Path) -> None:
    text = ("app 1/1 [000] 1.000000:   10101010 cpu-clock: \n"
            "\t          401000 foo+0x1 (/opt/My App/lib x.so)\n"
            "\t          401100 main+0x2 (/usr/bin/app)\n\n")
    p = load_profile(write(tmp_path, text))
    assert p.total_samples == 1


def test_modules_with_spaces_or_deleted_keep_their_frames_and_full_names(tmp_path: Path) -> None:
    # A library replaced on disk while the process runs (after a package upgrade) is printed
    # "(/path/lib.so (deleted))"; JIT code in a memfd likewise; paths may contain spaces.
    text = ("app 1/1 [000] 1.000000:   10101010 cpu-clock: \n"
            "\t          401000 vpx_encode+0x1 (/usr/lib/libvpx.so.7 (deleted))\n"
            "\t          402000 foo+0x2 (/opt/My App/libfoo.so)\n"
            "\t          403000 [unknown] (/memfd:jit (deleted))\n"
            "\t          404000 main+0x3 (/usr/bin/app)\n\n")
    path = write(tmp_path, text)
    p = load_profile(path)
    got = {(f.name, f.module) for f in p.frames}
    assert got == {("vpx_encode", "/usr/lib/libvpx.so.7 (deleted)"), ("foo", "/opt/My App/libfoo.so"),
                   ("[memfd:jit (deleted)]", "/memfd:jit (deleted)"), ("main", "/usr/bin/app")}
    assert not p.capture.warnings
    # collapse keeps stackcollapse-perf.pl's reading of the same lines: its expression cannot
    # read a DSO with a space and no parentheses (the frame is skipped), and it splits the line
    # at "(deleted)", so the rest of the path stays in the name and the offset is not stripped.
    proc = run_cli("collapse", path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "app;main;[unknown] ;vpx_encode+0x1  10101010\n"


def _unique_addresses(text: bytes) -> bytes:
    """Every frame line's address moved by its sample's own amount: no address repeats between
    samples, as in JIT code or perf script of many short-lived processes."""
    out, shift = [], 0
    for line in text.split(b"\n"):
        if not line[:1].isspace() or not line.strip():
            shift += 1 << 12 if line and not line.startswith(b"#") else 0
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        addr, sep, rest = line.lstrip().partition(b" ")
        value = int(addr, 16)
        value += shift if value < 1 << 63 else -shift  # kernel addresses stay kernel addresses
        out.append(indent + b"%x" % value + sep + rest)
    return b"\n".join(out)


def test_unique_addresses_give_the_same_folded_stacks_and_profile(tmp_path: Path) -> None:
    from diagnose.collapse import CollapseOptions
    from diagnose.pipeline import collapse_input

    original = fixture("aiortc-call.perf.txt.gz")
    moved = tmp_path / "moved.perf.txt"
    moved.write_bytes(_unique_addresses(gzip.decompress(original.read_bytes())))
    lines = [ln for ln in moved.read_bytes().split(b"\n") if ln[:1] == b"\t"]
    assert len(lines) > 2000 and len({ln.split()[0] for ln in lines}) > 0.9 * len(lines)
    for opts in (CollapseOptions(), CollapseOptions(kernel=True, tid=True)):
        assert collapse_input(str(moved), opts, jobs=1) == collapse_input(str(original), opts, jobs=1)
    a, b = load_profile(str(original)), load_profile(str(moved))
    assert by_name(a) == by_name(b)


def test_one_frame_text_at_kernel_and_user_addresses_keeps_both_kinds(tmp_path: Path) -> None:
    """'[unknown] ([unknown])' reads the same at every address, but a kernel address makes it
    kernel code, and --addrs keeps each address."""
    samples = []
    for i in range(40):
        addr = (0xFFFFFFFF9B201293 if i % 4 == 0 else 0x7F3A00033333) + i * 0x10
        samples.append(f"app 5/5 [000] {1 + i / 100:.6f}: 10101010 cpu-clock: \n"
                       f"\t{addr:16x} [unknown] ([unknown])\n"
                       f"\t{0x401000 + i:16x} main+0x10 (/usr/bin/app)\n\n")
    path = write(tmp_path, "".join(samples))
    p = load_profile(path)
    kinds = {f.kind: s for f, s in zip(p.frames, p.self_counts()) if f.name == "[unknown]"}
    assert kinds == {"kernel": 10, "user": 30}
    out = run_cli("collapse", "--addrs", "--kernel", path)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 40  # every address its own frame


def test_a_malformed_leaf_line_seen_again_is_skipped_again_not_taken_for_a_frame(tmp_path: Path) -> None:
    """The line cache remembers a refused line as refused: the second sample with the same
    malformed leaf line was once counted with a frame id of -1, which names the table's last
    frame (here _start), so its samples went to an unrelated function."""
    good = sample("app", 1, 1, 1.0, [("work", APP), ("main", APP), ("_start", APP)])
    bad = "app 1/1 [000] {t}: 10101010 cpu-clock:ppp: \n\t  not a frame line\n\t7f0000001100 main+0x5 (/usr/bin/app)\n\n"
    path = write(tmp_path, good + "".join(bad.format(t=f"{2 + k}.000000") for k in range(3)))
    names = by_name(load_profile(path))
    assert names["_start"][:2] == (0, 1)
    assert names["main"][:2] == (3, 4)
    proc = run_cli("analyze", path, "--format", "json")
    assert "skipped not a frame line: 'not a frame line' (3 lines like it)" in proc.stderr


def test_a_process_whose_main_thread_never_ran_is_named_by_its_program(tmp_path: Path) -> None:
    """Only worker threads sampled: the process is named after the executable its frames run in,
    not after a worker (nor after JIT code perf calls //anon, nor a library)."""
    node = "/usr/bin/node"
    text = (sample("V8 Worker", 40, 41, 1.0, [("[unknown]", "//anon"), ("Builtins_Call", node), ("start_thread", LIBC)]) * 2
            + sample("libuv-worker", 40, 42, 1.1, [("uv__work_done", node), ("start_thread", LIBC)])
            + sample("V8 Worker", 40, 41, 1.05, [("[unknown]", "//anon")]) * 3  # JIT code alone: the most samples
            + sample("kworker/1:0", 50, 50, 1.2, [("process_one_work", K), ("kthread", K)])
            + sample("app-main", 60, 61, 1.3, [("compute", "/usr/lib/libfoo.so.1"), ("start_thread", LIBC)]) * 2
            + sample("app-io", 60, 62, 1.4, [("read_loop", "/usr/lib/libfoo.so.1"), ("start_thread", LIBC)]))
    names = load_profile(write(tmp_path, text)).program_names()
    assert names[40] == "node"
    assert names[50] == "kworker/1:0"  # its main thread ran: its own name
    assert names[60] == "app-main"  # no executable among its frames: the thread with the most samples
