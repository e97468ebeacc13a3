"""Streaming in bounded memory: the perf script chunker cuts at sample boundaries also when samples
have no call chain, and what it carries between pieces stays bounded however long a line or a
stack is. (Memory itself is measured by bench/bench_memory.py, not here.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from diagnose.inputs.perf_reader import SampleChunker, _ranges, parse_chunks, parse_file
from diagnose.pipeline import load_profile

APP = "/usr/bin/app"


def one_line_samples(n: int) -> bytes:
    """perf record without -g: one line per sample, comm padded to 16 columns, no blank lines."""
    lines = []
    for i in range(n):
        lines.append(f"{'worker':>16} {100:>5}/{100 + i % 3:<5} [000] {1000 + i / 1000:.6f}:   10101010 "
                     f"cpu-clock:ppp:      {0x7f0000001000 + i:x} func{i % 7}+0x{i % 50 + 1:x} ({APP})\n")
    return "".join(lines).encode()


def deep_sample(frames: int, t: float = 1.0) -> bytes:
    head = f"app 100/100 [000] {t:.6f}:   10101010 cpu-clock:ppp: \n"
    body = "".join(f"\t    {0x7f0000001000 + k * 16:x} level{k}+0x1f ({APP})\n" for k in range(frames))
    return (head + body + "\n").encode()


def normal_sample(t: float, leaf: str = "leaf") -> bytes:
    return (f"app 100/101 [000] {t:.6f}:   10101010 cpu-clock:ppp: \n"
            f"\t    7f0000002000 {leaf}+0x10 ({APP})\n\t    7f0000003000 main+0x20 ({APP})\n\n").encode()


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_samples_without_call_chains_are_cut_at_sample_lines() -> None:
    data = one_line_samples(5000)
    chunker = SampleChunker(chunk_bytes=16 * 1024, max_sample_bytes=64 * 1024)
    chunks = list(chunker.chunks(pieces(data, 4096)))
    assert len(chunks) > 10
    assert b"".join(c for c, _, _ in chunks) == data
    assert chunker.cut_samples == 0
    # Every chunk but the last ends where a sample line begins the next one.
    for (chunk, last, _), (nxt, _, _) in zip(chunks, chunks[1:]):
        assert chunk.endswith(b"\n") and nxt.lstrip().startswith(b"worker")
    # Nothing like the whole input is ever held back.
    assert chunker.max_carry <= 16 * 1024 + 4096
    # Line numbers handed to the parser follow the input.
    assert [line for _, _, line in chunks] == [1 + sum(c.count(b"\n") for c, _, _ in chunks[:i])
                                               for i in range(len(chunks))]


def test_one_line_samples_parse_the_same_in_small_and_whole_chunks(tmp_path: Path) -> None:
    data = one_line_samples(3000)
    whole, _ = parse_chunks([data], jobs=1)
    cut, _ = parse_chunks(pieces(data, 1000), jobs=1)
    assert sum(st.samples for st in whole.events.values()) == 3000
    assert {e: s.samples for e, s in whole.events.items()} == {e: s.samples for e, s in cut.events.items()}
    assert not cut.warnings and cut.unterminated_line is None  # a one-line sample is complete


def test_file_ranges_start_on_sample_lines_without_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "flat.txt"
    path.write_bytes(one_line_samples(20000))
    size = path.stat().st_size
    ranges = _ranges(str(path), size, 4)
    assert len(ranges) == 4
    data = path.read_bytes()
    for start, _ in ranges[1:]:
        assert data[start - 1:start] == b"\n" and data[start:].lstrip().startswith(b"worker")
    serial, _ = parse_file(str(path), jobs=1)
    parallel, _ = parse_file(str(path), jobs=4)
    assert {e: s.samples for e, s in serial.events.items()} == {e: s.samples for e, s in parallel.events.items()}


def test_a_stack_longer_than_the_bound_keeps_its_innermost_frames_and_the_carry_stays_bounded() -> None:
    data = normal_sample(0.5) + deep_sample(3000) + normal_sample(2.0, "after")
    chunker = SampleChunker(chunk_bytes=4096, max_sample_bytes=32 * 1024)
    chunks = list(chunker.chunks(pieces(data, 1024)))
    assert chunker.cut_samples == 1
    assert chunker.max_carry <= 32 * 1024 + 1024
    assert chunker.skipped_lines > 0
    text = b"".join(c for c, _, _ in chunks)
    assert b"level0+" in text and b"level2999+" not in text  # innermost kept, outermost skipped
    assert text.endswith(normal_sample(2.0, "after"))  # the next sample is read again


def test_a_cut_stack_is_reported_once_and_the_rest_is_analysed(monkeypatch) -> None:
    from diagnose.inputs import perf_reader
    from diagnose.inputs.source import InputSource
    from diagnose.pipeline import parse_warnings

    monkeypatch.setattr(perf_reader.SampleChunker.__init__, "__defaults__", (16 * 1024, 64 * 1024))
    data = normal_sample(0.5) + deep_sample(5000) + normal_sample(2.0, "after")
    parse, _ = parse_chunks(pieces(data, 1024), jobs=1)
    assert sum(st.samples for st in parse.events.values()) == 3
    assert {b"leaf", b"after", b"level0"} <= {f.func for f in parse.frames}
    warned = [w for w in parse_warnings(parse, InputSource("deep.txt", "perf-script"), False) if "longer than" in w]
    assert len(warned) == 1
    assert warned[0].startswith("deep.txt:5: skipped the outer part of 1 sample longer than 0.0625 MB (")
    assert warned[0].endswith("lines): only the innermost frames up to there were analysed")


def test_an_endless_line_is_skipped_in_bounded_memory() -> None:
    data = normal_sample(0.5) + b"x" * 200_000 + b"\n" + normal_sample(2.0, "after")
    chunker = SampleChunker(chunk_bytes=4096, max_sample_bytes=32 * 1024)
    text = b"".join(c for c, _, _ in chunker.chunks(pieces(data, 1024)))
    assert chunker.cut_samples == 1 and chunker.max_carry <= 32 * 1024 + 1024
    assert b"xxxx" not in text and text.startswith(normal_sample(0.5)) and text.endswith(normal_sample(2.0, "after"))


def test_a_100k_frame_stack_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep.txt"
    path.write_bytes(deep_sample(100_000))
    profile = load_profile(str(path), jobs=1)
    assert len(profile.stacks) == 1 and len(profile.stacks[0].frames) == 100_000
    assert not [w for w in profile.capture.warnings if "longer than" in w]


FOLDED_CASES = {
    "annotations": "iperf-27409/28744;[libc.so.6];recv;entry_SYSCALL_64_[k];udp_recvmsg_[k] 5\nrun-?/28797;[unknown] 1\n",
    "odd parts": "app;;main;_[k];x_[j];y_[i] 2\napp;main;x_[j] 3\nmy app;a 1\napp 4\napp;zero 0\n",
    "counts": "# comment\n\napp;a 12.\napp;b 3.5\napp;c 1 2\napp;a 1\n",
    "bytes": "app;caf\xe9;\xff\xfe 2\n",
}


@pytest.mark.parametrize("case", sorted(FOLDED_CASES))
def test_collapse_of_folded_text_streams_the_lines_the_profile_gives(tmp_path: Path, case: str) -> None:
    from diagnose.inputs.folded import collapse_folded, read_folded
    from diagnose.report.folded import profile_folded

    path = tmp_path / "in.folded"
    path.write_bytes(FOLDED_CASES[case].encode("latin-1"))
    data = path.read_bytes()
    streamed, warnings = collapse_folded(pieces(data, 7), str(path))
    profile = read_folded([data], str(path))
    assert b"".join(k + b" %d\n" % streamed[k] for k in sorted(streamed)) == profile_folded(profile)
    assert warnings == profile.capture.warnings


@pytest.mark.parametrize("name", ["pyspy-udp-send.folded.gz"])
def test_collapse_of_a_folded_fixture_is_unchanged(name: str) -> None:
    import gzip

    from diagnose.inputs.folded import collapse_folded, read_folded
    from diagnose.report.folded import profile_folded

    data = gzip.decompress((Path(__file__).parent.parent / "fixtures" / name).read_bytes())
    streamed, _ = collapse_folded(pieces(data, 4096), name)
    assert b"".join(k + b" %d\n" % streamed[k] for k in sorted(streamed)) == profile_folded(read_folded([data], name))


def test_folded_lines_carry_one_partial_line_and_refuse_an_endless_one(monkeypatch) -> None:
    from diagnose.errors import DiagnoseError
    from diagnose.inputs import folded

    text = b"app;a 1\n" + b"app;" + b"x;" * 5000 + b"y 2\napp;b 3"
    assert [line for _, line in folded.folded_lines(pieces(text, 100), "f")] == text.split(b"\n")
    monkeypatch.setattr(folded, "MAX_LINE_BYTES", 1000)
    with pytest.raises(DiagnoseError, match=r"f:2: a line longer than"):
        list(folded.folded_lines(pieces(text, 100), "f"))


def test_a_folded_file_whose_first_line_is_megabytes_long_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "deep.folded"
    path.write_text("app;" + ";".join(f"level{k}" for k in range(100_000)) + " 3\napp;main 1\n")
    profile = load_profile(str(path))
    assert profile.capture.format == "folded" and profile.total_samples == 4
    assert max(len(s.frames) for s in profile.stacks) == 100_000
