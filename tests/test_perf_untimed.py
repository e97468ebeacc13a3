"""A perf.data whose header gives its first and last sample times is read as perf script text
without time stamps, its samples counted whole (diagnose.inputs.perf_counted): the result must be
the one the timed text gives, on real recordings, and on untimed text of every unusual shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

# Two threads, 1.2 s of CPU time in all, with stacks that differ by thread and by depth.
BUSY = """
import threading, time
def spin(depth):
    if depth:
        return spin(depth - 1)
    t = time.process_time()
    while time.process_time() - t < 0.6:
        sum(i * i for i in range(300))
a = threading.Thread(target=spin, args=(3,)); a.start(); spin(7); a.join()
"""


# Sleeps: a thread switched out 200 times (sched:sched_switch samples).
SLEEPY = "import time\nfor i in range(200):\n    time.sleep(0.001)\n"


def _record(tmp_path_factory: pytest.TempPathFactory, name: str, *options: str, program: str = BUSY) -> Path:
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("perf is not installed (apt-get install linux-perf)")
    out = tmp_path_factory.mktemp("untimed") / name
    proc = subprocess.run([perf, "record", *(options or ("-F", "499", "-g")), "-o", str(out), "--", sys.executable,
                           "-c", program], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not out.exists():
        pytest.skip(f"perf cannot record here: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _record(tmp_path_factory, "perf.data")


@pytest.fixture(scope="module")
def recording_without_build_ids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """perf record -B skips the pass that notes the sample times: its header says 0 and 0."""
    return _record(tmp_path_factory, "nobuildid.data", "-F", "499", "-g", "-B")


@pytest.fixture(scope="module")
def recording_without_call_chains(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No -g: perf script prints each sample on one line, indented (the process name padded)."""
    return _record(tmp_path_factory, "nog.data", "-F", "499")


@pytest.fixture(scope="module")
def tracepoint_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracepoint with call chains recorded: perf script still prints its samples on one line."""
    return _record(tmp_path_factory, "sched.data", "-e", "sched:sched_switch", "-g", program=SLEEPY)


def _header_times(path: Path) -> tuple[str, str]:
    out = subprocess.run(["perf", "report", "--header-only", "-i", str(path)], capture_output=True, text=True,
                         check=True).stdout
    times = {}
    for line in out.splitlines():
        name, _, value = line.lstrip("# ").partition(":")
        times[name.strip()] = value.strip()
    return times["time of first sample"], times["time of last sample"]


def test_the_sample_times_read_from_the_header_are_the_ones_perf_reports(recording: Path,
                                                                         recording_without_build_ids: Path) -> None:
    from diagnose.inputs.perf_data import sample_times

    first, last = _header_times(recording)
    assert sample_times(str(recording)) == (float(first), float(last)) and float(last) > float(first)
    assert _header_times(recording_without_build_ids) == ("0.000000", "0.000000")
    assert sample_times(str(recording_without_build_ids)) is None  # read with time stamps, as before


def test_recordings_whose_samples_print_on_one_line_keep_their_time_stamps(
        recording_without_call_chains: Path, tracepoint_recording: Path) -> None:
    from diagnose.inputs.perf_data import sample_times
    from diagnose.inputs.perf_header import sample_times_ns

    for data in (recording_without_call_chains, tracepoint_recording):
        assert sample_times_ns(str(data)) is not None  # the header has the times ...
        assert sample_times(str(data)) is None  # ... but the samples print on one line, indented


def _timed_text(path: Path, tmp_path: Path) -> Path:
    text = tmp_path / f"{path.name}.txt"
    with text.open("wb") as f:
        subprocess.run(["perf", "script", "--header", "-F", "+pid", "-i", str(path)], stdout=f,
                       stderr=subprocess.DEVNULL, check=True)
    return text


@pytest.mark.parametrize("which", ["recording", "recording_without_build_ids", "recording_without_call_chains",
                                   "tracepoint_recording"])
def test_a_perf_data_gives_the_report_of_its_timed_perf_script_text(which: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    text = _timed_text(data, tmp_path)
    reports = []
    for path in (data, text):
        proc = run_cli("analyze", str(path), "--format", "json")
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads(proc.stdout))
    a, b = reports
    for key in ("events", "total_samples", "stack_samples", "duration_s", "duration_source", "frequency_hz", "threads"):
        assert a["capture"][key] == b["capture"][key], key
    assert a["capture"]["duration_s"] > 0.1 and a["capture"]["total_samples"] > 50
    assert a["profile"] == b["profile"] and a["findings"] == b["findings"]
    folded = [run_cli("collapse", "--pid", "--tid", str(p)).stdout for p in (data, text)]
    assert folded[0] == folded[1] and folded[0].count("\n") >= 1


@pytest.mark.parametrize("how", ["one stream", "two time slices"])
def test_untimed_text_the_parser_warns_about_is_read_again_with_time_stamps(
        how: str, recording_without_call_chains: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the header mislead (one-line samples taken for call chains), the untimed text's
    lines would not read as samples: the recording is read again, timed, and nothing is lost."""
    from diagnose.inputs import perf_data, perf_header
    from diagnose.inputs.collapse import CollapseOptions, fold
    from diagnose.inputs.perf_reader import parse_file
    from diagnose.inputs.perf_slices import parse_sliced, slices_for

    data = str(recording_without_call_chains)
    monkeypatch.setattr(perf_header, "every_event_has_call_chains", lambda path: True)
    assert perf_data.sample_times(data) is not None
    status = perf_data.PerfScriptExit()
    if how == "one stream":
        read, cut = perf_data.parse_perf_data(data, status, False, 1)
    else:
        ranges = slices_for(data, 2, min_bytes=0)
        assert ranges is not None
        read, cut = parse_sliced(data, ranges, False, status), False
    timed, _ = parse_file(str(_timed_text(recording_without_call_chains, tmp_path)), jobs=1)
    assert not cut and status.code == 0 and not read.warnings
    assert sum(s.samples for s in read.events.values()) == sum(s.samples for s in timed.events.values()) > 50
    assert fold(read, CollapseOptions(tid=True)) == fold(timed, CollapseOptions(tid=True))


def test_the_counted_reading_is_taken_and_agrees_with_the_timed_one(recording: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """In one process (one parser): the untimed text of the recording is counted whole, chunk
    by chunk, and gives the parse (stacks, threads, events, times) of the timed text."""
    from diagnose.inputs import perf_counted, perf_script
    from diagnose.inputs.collapse import CollapseOptions, fold
    from diagnose.inputs.perf_data import PerfScriptExit, parse_perf_data
    from diagnose.inputs.perf_reader import parse_file

    counted = []

    def spy(*args: object) -> bool:
        counted.append(perf_counted.feed_counted(*args))  # type: ignore[arg-type]
        return counted[-1]

    monkeypatch.setattr(perf_script, "feed_counted", spy)
    untimed, cut = parse_perf_data(str(recording), PerfScriptExit(), False, 1)
    assert not cut and counted and all(counted)
    timed, _ = parse_file(str(_timed_text(recording, tmp_path)), jobs=1)
    assert (untimed.time_min, untimed.time_max) == (timed.time_min, timed.time_max)
    assert untimed.groups == timed.groups and len(untimed.groups) >= 2
    assert {e: (s.samples, s.period, s.first_strict is not None) for e, s in untimed.events.items()} == \
        {e: (s.samples, s.period, s.first_strict is not None) for e, s in timed.events.items()}
    opts = CollapseOptions(pid=True, tid=True)
    assert fold(untimed, opts) == fold(timed, opts)


HEAD = "busy 10/11     500000 cpu-clock:pppH: \n"
LEAF = "\t    7f00000010{} spin+0x1{} (/usr/bin/busy)\n"
CALLERS = "\t    7f00000020aa main+0x2 (/usr/bin/busy)\n\t    7f00000030aa __libc_start_main (/lib/libc.so.6)\n"


def _sample(k: int, head: str = HEAD) -> str:
    return head + LEAF.format(k % 10, k % 7) + CALLERS + "\n"


UNUSUAL = {
    "plain": "".join(_sample(k) for k in range(40)),
    "a sample without a call chain": _sample(1) + HEAD + "\n" + _sample(2),
    "a comment line": _sample(1) + "# a comment\n" + _sample(2),
    "a period that is not a number": _sample(1) + HEAD.replace("500000", "9" * 30) + CALLERS + "\n" + _sample(2),
    "a time stamp after all": _sample(1) + _sample(2, HEAD.replace("10/11 ", "10/11 5.000001: ")),
    "runs of blank lines": _sample(1) + "\n\n" + _sample(2) + "\n",
    "the input cut inside a sample": _sample(1) + _sample(2)[:-30],
    "a frame line the table refuses": _sample(1) + HEAD + "\t  not a frame\n" + CALLERS + "\n",
    "two threads and two events": _sample(1) + _sample(2, HEAD.replace("10/11", "10/12"))
                                  + _sample(3, HEAD.replace("cpu-clock", "task-clock")) + _sample(4),
}


@pytest.mark.parametrize("name", list(UNUSUAL))
def test_untimed_text_reads_the_same_counted_or_sample_by_sample(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from diagnose.inputs import perf_script
    from diagnose.inputs.perf_reader import parse_chunks

    text = UNUSUAL[name].encode()
    times = (5.0, 6.5)

    def read(chunk_bytes: int) -> tuple:
        parse, _ = parse_chunks([text], jobs=1, chunk_bytes=chunk_bytes, sample_times=times)
        return (parse.counts, parse.groups, {e: vars(s) for e, s in parse.events.items()},
                {k: vars(w) for k, w in parse.warnings.items()}, parse.unterminated_line, parse.time_min, parse.time_max)

    counted = [read(n) for n in (64, 1 << 20)]
    monkeypatch.setattr(perf_script, "feed_counted", lambda *args: False)
    one_by_one = [read(n) for n in (64, 1 << 20)]
    assert counted == one_by_one
    counts = counted[1][0]
    assert counts, name
    assert counted[1][5:] == times  # the header's times, not the text's