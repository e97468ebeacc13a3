"""perf.data input: perf script runs as a subprocess on a real recording made here."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_one_line_error, run_cli

# 1.2 s of CPU time, however long that takes on a loaded machine: the samples count CPU time.
BUSY = "import time\nt=time.process_time()\nwhile time.process_time()-t<1.2:\n    sum(i*i for i in range(500))\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("perf is not installed (apt-get install linux-perf)")
    out = tmp_path_factory.mktemp("perfdata") / "perf.data"
    proc = subprocess.run([perf, "record", "-F", "499", "-g", "-o", str(out), "--", sys.executable, "-c", BUSY],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not out.exists():
        pytest.skip(f"perf cannot record here: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return out


def test_analyze_reads_perf_data(recording: Path) -> None:
    proc = run_cli("analyze", str(recording), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["capture"]["format"] == "perf-data"
    assert r["capture"]["total_samples"] > 100
    assert r["capture"]["frequency_hz"] == 499
    names = {f["name"] for f in r["profile"]["functions"]}
    assert "_PyEval_EvalFrameDefault" in names or any("python" in f["module"] for f in r["profile"]["functions"])
    pids = {t["pid"] for t in r["capture"]["threads"]}
    assert None not in pids  # perf script ran with pid/tid


def test_collapse_of_perf_data_equals_collapse_of_its_perf_script_text(recording: Path, tmp_path: Path) -> None:
    text = tmp_path / "script.txt"
    with text.open("wb") as f:
        subprocess.run(["perf", "script", "--header", "-F", "+pid", "-i", str(recording)], stdout=f,
                       stderr=subprocess.DEVNULL, check=True)
    a = run_cli("collapse", "--tid", str(recording))
    b = run_cli("collapse", "--tid", str(text))
    assert a.returncode == 0 and a.stdout and a.stdout == b.stdout


def test_missing_perf_is_a_clear_error(recording: Path) -> None:
    env = {"PATH": "/nonexistent"}
    proc = run_cli("analyze", str(recording), env=env)
    assert_one_line_error(proc, "perf is not installed", "apt-get install linux-perf")


def test_corrupt_perf_data_is_a_clear_error(tmp_path: Path) -> None:
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed (apt-get install linux-perf)")
    bad = tmp_path / "broken.data"
    bad.write_bytes(b"PERFILE2" + os.urandom(3000))
    assert_one_line_error(run_cli("analyze", str(bad)), str(bad), "perf script could not read it")


@pytest.fixture(scope="module")
def recording_in_rounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording written in several rounds (a small ring buffer, -m 8), so that a cut in the
    file leaves whole rounds of samples before it for perf script to print."""
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("perf is not installed (apt-get install linux-perf)")
    out = tmp_path_factory.mktemp("perfdata") / "rounds.data"
    proc = subprocess.run([perf, "record", "-F", "999", "-g", "-m", "8", "-o", str(out), "--", sys.executable, "-c",
                           BUSY], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not out.exists():
        pytest.skip(f"perf cannot record here: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return out


def _perf_script(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["perf", "script", "--header", "-F", "+pid", "-i", str(path)], capture_output=True,
                          timeout=120)


def _samples(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line[:1] not in (b"", b"#", b" ", b"\t"))


def test_a_perf_data_cut_short_is_analysed_up_to_the_cut_with_perf_error(recording_in_rounds: Path,
                                                                         tmp_path: Path) -> None:
    data = recording_in_rounds.read_bytes()
    full = _samples(_perf_script(recording_in_rounds).stdout)
    cut = tmp_path / "cut.data"
    for fraction in (0.9, 0.8, 0.7, 0.6, 0.5):
        cut.write_bytes(data[: int(len(data) * fraction)])
        direct = _perf_script(cut)
        if direct.returncode != 0 and 0 < _samples(direct.stdout) < full:
            break
    else:
        pytest.fail("no cut of the recording makes perf script fail after some samples")
    proc = run_cli("analyze", str(cut), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # perf's last sample may be cut inside its call chain: it is counted or left out, never more.
    assert _samples(direct.stdout) - 1 <= report["capture"]["total_samples"] <= _samples(direct.stdout)
    assert report["capture"]["truncated"] is True
    warnings = [line for line in proc.stderr.splitlines() if "perf script stopped" in line]
    assert len(warnings) == 1, proc.stderr
    assert _ending(direct) in warnings[0]


def _ending(direct: subprocess.CompletedProcess[bytes]) -> str:
    """What the warning must say of how perf script ended: its exit code and last error line, or
    the signal that killed it (a cut perf.data can make perf die of SIGBUS without a word)."""
    if direct.returncode < 0:
        return f"killed by {signal.Signals(-direct.returncode).name}"
    return f"exit code {direct.returncode}: {direct.stderr.decode().strip().splitlines()[-1][:60]}"


def test_a_perf_data_cut_before_its_first_sample_is_one_line(recording_in_rounds: Path, tmp_path: Path) -> None:
    data = recording_in_rounds.read_bytes()
    cut = tmp_path / "cut.data"
    for size in range(len(data) // 2, 0, -max(1, len(data) // 40)):
        cut.write_bytes(data[:size])
        direct = _perf_script(cut)
        if direct.returncode != 0 and direct.stdout.strip() and _samples(direct.stdout) == 0:
            break
    else:
        pytest.skip("no cut of this recording leaves perf's header without samples")
    assert_one_line_error(run_cli("analyze", str(cut)), str(cut), "failed before any sample")


def _fake_perf(tmp_path: Path, stderr_bytes: int, exit_code: int) -> dict[str, str]:
    """A `perf` that writes `stderr_bytes` of warnings before any output (more than a pipe
    holds), then a short perf script text, then exits with `exit_code` (a negative one: it kills
    itself with that signal, without a word, as perf does on a bus error)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    text = tmp_path / "script.txt"
    text.write_text("".join(
        f"app 10/10 [000] {1 + i / 1000:.6f}: 1000000 cpu-clock:ppp: \n\t    7f0000001000 work+0x4 (/usr/bin/app)\n"
        f"\t    7f0000002000 main+0x8 (/usr/bin/app)\n\n" for i in range(50)))
    fake = bindir / "perf"
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"sys.stderr.write('Warning: a kernel symbol could not be resolved\\n' * {stderr_bytes // 46 + 1})\n"
                    f"sys.stderr.flush()\nsys.stdout.write(open({str(text)!r}).read())\nsys.stdout.flush()\n"
                    + (f"import os\nos.kill(os.getpid(), {-exit_code})\n" if exit_code < 0 else
                       f"sys.stderr.write('0x1234 [0]: failed to process type: 0 [Invalid argument]\\n')\n"
                       f"sys.exit({exit_code})\n"))
    fake.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.parametrize("exit_code", [0, 234])
def test_perf_warnings_beyond_a_pipe_do_not_block_the_reading(tmp_path: Path, exit_code: int) -> None:
    data = tmp_path / "perf.data"
    data.write_bytes(b"PERFILE2" + bytes(1000))
    proc = run_cli("analyze", str(data), "--format", "json", env=_fake_perf(tmp_path, 1 << 20, exit_code),
                   timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["capture"]["total_samples"] == 50
    stopped = [line for line in proc.stderr.splitlines() if "perf script stopped" in line]
    if exit_code:
        assert len(stopped) == 1 and "failed to process type" in stopped[0] and "exit code 234" in stopped[0]
    else:
        assert not stopped


@pytest.mark.parametrize("lang, said", [("en", "perf script stopped (killed by SIGBUS); analysed the 50 samples"),
                                        ("zh", "中途停止（被信号 SIGBUS 终止）；已分析此前的 50 个采样")])
def test_perf_killed_by_a_signal_is_named_by_its_signal(tmp_path: Path, lang: str, said: str) -> None:
    data = tmp_path / "perf.data"
    data.write_bytes(b"PERFILE2" + bytes(1000))
    proc = run_cli("--lang", lang, "analyze", str(data), "--format", "json",
                   env=_fake_perf(tmp_path, 100, -signal.SIGBUS))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["capture"]["truncated"] is True
    assert said in proc.stderr and "exit code" not in proc.stderr and "退出码" not in proc.stderr


def test_a_bad_perf_data_is_reported_before_a_bad_rule_pack(recording: Path, tmp_path: Path) -> None:
    """perf script runs while the rule packs load: the errors still come in the order of the
    work, the input's first."""
    pack = tmp_path / "bad.yaml"
    pack.write_text("schema: nonsense\n")
    bad = tmp_path / "broken.data"
    bad.write_bytes(b"PERFILE2" + os.urandom(3000))
    assert_one_line_error(run_cli("analyze", str(bad), "--rules", str(pack)), str(bad), "perf script could not read it")
    assert_one_line_error(run_cli("flamegraph", str(recording), "--rules", str(pack), "-o", str(tmp_path / "f.svg")),
                          f"{pack}:1", "schema must be")
    assert not (tmp_path / "f.svg").exists()


def _read(path: Path, **kwargs: int) -> tuple[bytes, int, object]:
    from diagnose.collapse import CollapseOptions, fold, folded_lines
    from diagnose.inputs.perf_script import count
    from diagnose.pipeline import read_perf, resolve

    parse, warnings, cut = read_perf(resolve(str(path)), **kwargs)
    assert warnings == [] and not cut
    samples = sum(count(c)[0] for c in parse.counts.values())
    return b"".join(folded_lines(fold(parse, CollapseOptions(tid=True)))), samples, parse


@pytest.mark.parametrize("slices", [2, 3])
def test_a_perf_data_read_in_time_slices_equals_one_perf_script(recording: Path, slices: int) -> None:
    """Several perf script processes over disjoint time slices (forced on this small recording):
    every sample read once, the folded stacks byte for byte those of one perf script."""
    from diagnose.inputs.perf_slices import slices_for

    ranges = slices_for(str(recording), slices, min_bytes=0)
    assert ranges is not None and len(ranges) == slices
    # Each slice holds samples of its own (the cut is not at an end of the recording).
    per_slice = [_samples(subprocess.run(["perf", "script", "-F", "+pid", "--time", r, "-i", str(recording)],
                                         capture_output=True, check=True).stdout) for r in ranges]
    assert all(n > 0 for n in per_slice), (ranges, per_slice)
    one_folded, one_samples, one = _read(recording, jobs=1)
    sliced_folded, sliced_samples, sliced = _read(recording, jobs=slices, slice_min_bytes=0)
    # (Without --header: the recorded command line, which has newlines, would count as lines.)
    whole = subprocess.run(["perf", "script", "-F", "+pid", "-i", str(recording)], capture_output=True, check=True)
    assert one_samples == sum(per_slice) == _samples(whole.stdout)
    assert sliced_samples == one_samples
    assert sliced_folded == one_folded and one_folded
    assert sliced.header == one.header and sliced.header  # printed once, by the first slice
    assert (sliced.time_min, sliced.time_max) == (one.time_min, one.time_max)
    assert {e: s.samples for e, s in sliced.events.items()} == {e: s.samples for e, s in one.events.items()}


def test_a_small_or_cut_perf_data_is_read_by_one_perf_script(recording_in_rounds: Path, tmp_path: Path) -> None:
    from diagnose.inputs.perf_slices import slices_for

    assert slices_for(str(recording_in_rounds), 2) is None  # under the size where slices pay off
    assert slices_for(str(recording_in_rounds), 1, min_bytes=0) is None  # one CPU
    assert slices_for(str(recording_in_rounds), 2, min_bytes=0) is not None
    cut = tmp_path / "cut.data"
    cut.write_bytes(recording_in_rounds.read_bytes()[: recording_in_rounds.stat().st_size * 9 // 10])
    assert slices_for(str(cut), 2, min_bytes=0) is None  # no sample times in a header cut off


def _processes_reading(path: Path) -> list[str]:
    """Processes whose command line names `path` (perf script, or a forked parser of it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(path).encode() in argv:
                found.append(b" ".join(argv).decode(errors="replace"))
    return found


READ_IN_SLICES = ("import sys\nfrom diagnose.pipeline import read_perf, resolve\nprint('ready', flush=True)\n"
                  "while True:\n    read_perf(resolve(sys.argv[1]), jobs=2, slice_min_bytes=0)\n")


@pytest.mark.parametrize("delay", [0.05, 0.3])
def test_ctrl_c_while_reading_slices_ends_every_perf_script(recording: Path, delay: float) -> None:
    import signal
    import time

    from conftest import ROOT

    proc = subprocess.Popen([sys.executable, "-c", READ_IN_SLICES, str(recording)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    time.sleep(delay)
    # The Ctrl-C lands while a perf script reads (the reads follow each other; between two,
    # none does): from `delay` on, at the first moment one is seen.
    deadline = time.monotonic() + 10
    seen = False
    while delay >= 0.1 and not seen and time.monotonic() < deadline:
        seen = any(line.split()[0].endswith("perf") for line in _processes_reading(recording))
        time.sleep(0 if seen else 0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT), stderr.decode()
    assert b"KeyboardInterrupt" in stderr or not stderr
    assert seen or delay < 0.1, "no perf script was ever seen reading"
    deadline = time.monotonic() + 10
    while _processes_reading(recording) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_reading(recording) == []


def test_a_perf_data_read_while_the_command_line_loads_gives_the_same_parse(recording: Path) -> None:
    """The entry point forks a child that runs perf script on the one perf.data among the
    arguments and parses it while the command line loads; the reading takes its parse over, and
    it is the parse a reading of its own gives (stacks, counts, warnings, perf's exit)."""
    from diagnose.inputs import perf_early, perf_reader  # noqa: F401  (what the child uses, loaded before it forks)
    from diagnose.inputs.collapse import CollapseOptions, fold
    from diagnose.orchestrate.perf_read import read_perf
    from diagnose.orchestrate.pipeline import resolve

    perf_early.start_early(["analyze", "--format", "json", str(recording)])
    assert perf_early._early is not None
    source = resolve(str(recording))
    early, early_warnings, early_cut = read_perf(source)
    assert perf_early._early is None  # taken over, not left to be killed
    fresh, fresh_warnings, fresh_cut = read_perf(source)
    assert (early_warnings, early_cut, early.events) == (fresh_warnings, fresh_cut, fresh.events)
    stacks = fold(fresh, CollapseOptions())  # (fold empties the parse it folds)
    assert fold(early, CollapseOptions()) == stacks and len(stacks) > 5


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4])
def test_ctrl_c_while_a_perf_data_is_read_early_leaves_nothing_running(recording: Path, tmp_path: Path,
                                                                      delay: float) -> None:
    """Ctrl-C while the command line loads and the forked child already reads the perf.data: one
    line, exit 130, and neither the child nor its perf script goes on reading."""
    import signal
    import time

    from conftest import ROOT

    data = tmp_path / "mine.perf.data"
    shutil.copyfile(recording, data)
    # stdout to /dev/null: a report written to a pipe nobody reads yet would block at 64 kB.
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", "analyze", str(data), "--format", "json"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # `delay` counts from the fork of the early reader (a second process naming the file): a
    # Ctrl-C while Python itself still starts (imports `site`) is Python's "Fatal Python error",
    # exit code 1, before any code of ours runs.
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline and len(_processes_reading(data)) < 2:
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:  # it finished first (a fast machine)
        return
    assert proc.returncode in (130, -signal.SIGINT), stderr
    assert stderr.strip().splitlines() in ([], ["diagnose: interrupted"]) and "Traceback" not in stderr, stderr
    deadline = time.monotonic() + 10
    while _processes_reading(data) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_reading(data) == []
