"""Bad input: one clear line naming the file (and line), exit code 2, never a traceback.
A capture cut off by a killed perf is analysed up to the cut, with a one-line warning."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from conftest import assert_one_line_error, fixture, run_cli

COMMANDS = [("analyze",), ("analyze", "--format", "json"), ("collapse",)]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_empty_file(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    assert_one_line_error(run_cli(*cmd, str(p)), str(p), "empty")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_binary_garbage(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    p = tmp_path / "garbage.bin"
    p.write_bytes(bytes(range(256)) * 64 + os.urandom(4096))
    assert_one_line_error(run_cli(*cmd, str(p)), str(p), "binary")


def test_unknown_text_format_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("# a comment\n\nThis is a shopping list, not a profile.\nmilk\n")
    line = assert_one_line_error(run_cli("analyze", str(p)), f"{p}:3", "unknown format")
    assert "perf script" in line


def test_missing_file() -> None:
    assert_one_line_error(run_cli("analyze", "/nonexistent/capture.txt"), "/nonexistent/capture.txt", "no such file")


def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.txt"
    shutil.copy(fixture("original-report-shape.perf.txt.gz"), p)
    p.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    assert_one_line_error(run_cli("analyze", str(p), prefix=prefix), str(p), "permission denied")


def test_directory_that_is_not_a_capture_folder(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("analyze", str(tmp_path)), str(tmp_path), "directory")


def test_folded_count_not_a_number(tmp_path: Path) -> None:
    p = tmp_path / "s.folded"
    p.write_text("a;b 1\na;c 2\na;d three\n")
    assert_one_line_error(run_cli("collapse", str(p)), f"{p}:3")


def test_capture_cut_off_mid_sample_is_analysed_with_one_warning(tmp_path: Path) -> None:
    raw = gzip.decompress(fixture("iperf3-udp-recv.perf.txt.gz").read_bytes())
    full_samples = raw.count(b"\n\n")
    cut = raw[: raw.rindex(b"\n\n", 0, len(raw) // 2) + 40]  # inside a sample, mid-line
    p = tmp_path / "killed.txt"
    p.write_bytes(cut)
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "ends inside a sample" in warnings[0] and str(p) in warnings[0]
    import json

    report = json.loads(proc.stdout)
    assert report["capture"]["truncated"] is True
    assert 0 < report["capture"]["total_samples"] < full_samples


def test_truncated_gzip_is_analysed_up_to_the_cut(tmp_path: Path) -> None:
    data = fixture("socat-unix-ipc.perf.txt.gz").read_bytes()
    p = tmp_path / "cut.txt.gz"
    p.write_bytes(data[: len(data) // 2])
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "compressed data ends early" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_event_is_a_clear_error() -> None:
    path = str(fixture("stress-ng-malloc.perf.txt.gz"))
    assert_one_line_error(run_cli("analyze", path, "--event", "cache-misses"), "cache-misses", "--event")


def test_output_to_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "r.json"
    proc = run_cli("analyze", str(fixture("stress-ng-malloc.perf.txt.gz")), "--format", "json", "-o", str(out))
    assert_one_line_error(proc, str(out))
    assert not out.exists()


@pytest.fixture(scope="module")
def saved_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = tmp_path_factory.mktemp("report") / "report.json"
    proc = run_cli("analyze", str(fixture("stress-ng-memcpy.perf.txt.gz")), "--format", "json", "-o", str(report))
    assert proc.returncode == 0, proc.stderr
    return report


@pytest.mark.parametrize("width", ["-1", "0", "39", "1001", "1000000000"])
@pytest.mark.parametrize("command", ["analyze", "diff", "explain"])
def test_a_width_no_report_fits_in_is_refused(command: str, width: str, saved_report: Path) -> None:
    capture = str(fixture("stress-ng-memcpy.perf.txt.gz"))
    args = {"analyze": ["analyze", capture], "diff": ["diff", capture, str(saved_report)],
            "explain": ["explain", str(saved_report)]}[command]
    assert_one_line_error(run_cli(*args, "--width", width), f"--width {width}", "40-1000")


@pytest.mark.parametrize("command", ["analyze", "explain"])
def test_the_narrowest_width_still_prints_the_report(command: str, saved_report: Path) -> None:
    target = str(fixture("stress-ng-memcpy.perf.txt.gz")) if command == "analyze" else str(saved_report)
    proc = run_cli(command, target, "--width", "40")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) > 10 and max(len(line) for line in lines) <= 40


@pytest.mark.parametrize("width", ["-1", "0"])
def test_a_flamegraph_width_below_its_range_is_refused(width: str) -> None:
    proc = run_cli("flamegraph", str(fixture("stress-ng-memcpy.perf.txt.gz")), "--width", width)
    assert_one_line_error(proc, f"--width {width}", "200-100000")


@pytest.mark.parametrize("count", ["9" * 5000, "9" * 400 + ".5", "1" + "0" * 30], ids=["5000-digits", "float-overflow", "31-digits"])
def test_a_folded_count_too_large_for_a_number_of_samples_is_one_line(tmp_path: Path, count: str) -> None:
    p = tmp_path / "s.folded"
    p.write_text(f"app;main;work 10\napp;main;idle {count}\n")
    for cmd in COMMANDS:
        line = assert_one_line_error(run_cli(*cmd, str(p)), f"{p}:2", "too large")
        assert len(line) < 400


def test_folded_counts_keep_their_value_with_leading_zeros_and_fractions(tmp_path: Path) -> None:
    p = tmp_path / "s.folded"
    p.write_text(f"app;main;work {'0' * 5000}7\napp;main;idle 2.6\napp;main;poll 3.\n")
    proc = run_cli("collapse", str(p))
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == ["app;main;idle 3", "app;main;poll 3", "app;main;work 7"]
    assert "1 lines have fractional counts" in proc.stderr


def _perf_sample(period: str, t: float, leaf: str) -> str:
    return (f"app 10/10 [000] {t:.6f}: {period} cpu-clock:ppp: \n\t    7f0000001000 {leaf}+0x4 (/usr/bin/app)\n"
            f"\t    7f0000002000 main+0x8 (/usr/bin/app)\n\n")


@pytest.mark.parametrize("period", ["9" * 5000, "18446744073709551616"], ids=["5000-digits", "2^64"])
@pytest.mark.parametrize("comments", [False, True], ids=["plain", "with-header"])
def test_a_perf_period_that_is_not_a_64_bit_number_skips_that_sample_with_a_warning(
        tmp_path: Path, period: str, comments: bool) -> None:
    p = tmp_path / "capture.txt"
    p.write_text(("# cmdline : /usr/bin/perf record -g\n" if comments else "")
                 + _perf_sample("1000000", 1.0, "work") + _perf_sample(period, 1.001, "poll")
                 + _perf_sample("0" * 5000 + "1000000", 1.002, "work"))
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    import json

    report = json.loads(proc.stdout)
    assert report["capture"]["total_samples"] == 2
    assert report["capture"]["frequency_hz"] == 1000.0
    warnings = [line for line in proc.stderr.splitlines() if "period" in line]
    assert len(warnings) == 1 and f"{p}:{6 if comments else 5}" in warnings[0] and "64-bit" in warnings[0]


def test_a_truncated_gzip_of_folded_stacks_is_analysed_up_to_the_cut(tmp_path: Path) -> None:
    lines = [f"app;main;f{i % 50};g{i % 7} {i % 13 + 1}\n" for i in range(40_000)]
    data = gzip.compress("".join(lines).encode())
    p = tmp_path / "cut.folded.gz"
    p.write_bytes(data[: len(data) // 2])
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    cut = [line for line in proc.stderr.splitlines() if "ends early" in line]
    assert len(cut) == 1 and str(p) in cut[0] and "Traceback" not in proc.stderr
    import json
    import re

    whole = int(re.search(r"the ([\d,]+) whole lines", cut[0]).group(1).replace(",", ""))
    report = json.loads(proc.stdout)
    # Exactly the lines before the cut, none of the cut one: the counts are those of the file.
    assert report["capture"]["total_samples"] == sum(i % 13 + 1 for i in range(whole))
    assert report["capture"]["truncated"] is True
    assert whole > 1000


def test_a_truncated_gzip_of_perf_script_text_keeps_the_samples_before_the_cut(tmp_path: Path) -> None:
    """GzipFile.read(4 MB) dropped everything it had decompressed when it met the cut: a file
    smaller than that was 'analysed' as 0 samples."""
    raw = gzip.decompress(fixture("iperf3-udp-recv.perf.txt.gz").read_bytes())
    full_samples = raw.count(b"\n\n")
    data = gzip.compress(raw)
    p = tmp_path / "cut.txt.gz"
    p.write_bytes(data[: len(data) // 2])
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "compressed data ends early" in warnings[0], warnings
    import json

    report = json.loads(proc.stdout)
    assert full_samples // 4 < report["capture"]["total_samples"] < full_samples
    assert report["capture"]["truncated"] is True


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_folded_file_whose_first_line_is_longer_than_the_sniffed_prefix_is_read(tmp_path: Path, compress: bool) -> None:
    deep = ";".join(f"frame_{i}" for i in range(40_000))  # about 400 kB on one line
    text = f"app;main;{deep} 10\napp;main;idle 3\n".encode()
    p = tmp_path / "deep.folded"
    p.write_bytes(gzip.compress(text) if compress else text)
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    import json

    report = json.loads(proc.stdout)
    assert report["capture"]["format"] == "folded" and report["capture"]["total_samples"] == 13


def test_a_long_first_line_without_a_count_names_its_end(tmp_path: Path) -> None:
    p = tmp_path / "deep.folded"
    p.write_text("app;" * 100_000 + "main\n")
    assert_one_line_error(run_cli("analyze", str(p)), f"{p}:1", "no sample count", "app;main")


def test_a_perf_pid_of_5000_digits_is_counted_without_it_and_said(tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py: int() of a 5,000-digit tid was a ValueError traceback."""
    p = tmp_path / "capture.txt"
    p.write_text(_perf_sample("1000000", 1.0, "work")
                 + _perf_sample("1000000", 1.001, "poll").replace("app 10/10", "app 10/" + "9" * 5000))
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr[-500:]
    import json

    report = json.loads(proc.stdout)
    assert report["capture"]["total_samples"] == 2
    assert any("pid or tid of more than 10 digits" in line for line in proc.stderr.splitlines())


@pytest.mark.parametrize("odd", ["9" * 400, "nan", "-5", "1e400"])
def test_odd_durations_and_frequencies_in_perf_header_are_not_known_rather_than_infinite(
        tmp_path: Path, odd: str) -> None:
    """Found by tests/test_fuzz.py: `sleep 9...9` in the header made the duration inf, and the
    JSON report held Infinity (not JSON)."""
    p = tmp_path / "capture.txt"
    p.write_text(f"# ========\n# cmdline : /usr/bin/perf record -F {odd} -g -- sleep {odd}\n"
                 f"# event : name = cpu-clock:ppp, , id = {{ 1 }}, type = 1, size = 128, "
                 f"{{ sample_period, sample_freq }} = {odd if odd.isdigit() else 99}, freq = 1\n# ========\n#\n"
                 + _perf_sample("1000000", 1.0, "work")
                 + _perf_sample("1000000", 2.0, "work").replace("2.000000:", f"{'9' * 400}.5:" if odd == "1e400" else "2.0:"))
    proc = run_cli("analyze", str(p), "--format", "json")
    assert proc.returncode == 0, proc.stderr[-500:]
    import json

    capture = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON report"))["capture"]
    for key in ("duration_s", "frequency_hz"):
        assert capture[key] is None or 0 < capture[key] < 1e300, (key, capture[key])
