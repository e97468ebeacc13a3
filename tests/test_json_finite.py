"""JSON reports never hold NaN or Infinity (neither is JSON; strict readers reject the file). A
capture can state an impossible duration or frequency (`-- sleep inf`, `sleep nan`, time stamps
or a sample_freq too large for a float): it is unknown (null), or taken from what else the capture
tells; a saved report holding them (older versions wrote them) is read as unknown."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import fixture, run_cli

HUGE = "9" * 400  # a decimal number too large for a float: float() makes it inf
EVENT = ("# event : name = cpu-clock:ppp, , id = { 1 }, type = 1, size = 128, { sample_period, sample_freq } = "
         "{freq}, sample_type = IP|TID|TIME|CALLCHAIN|PERIOD, freq = 1\n")


def strict(text: str) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        pytest.fail(f"{constant} in a JSON report")

    return json.loads(text, parse_constant=refuse)


def capture(tmp_path: Path, sleep: str | None = "2", freq: str = "99", times: tuple[str, str] = ("100.0", "100.5"),
            period: str = "10101010") -> Path:
    head = "# ========\n"
    if sleep is not None:
        head += f"# cmdline : /usr/bin/perf record -F 99 -g -p 1 -- sleep {sleep}\n"
    head += EVENT.replace("{freq}", freq) + "# ========\n#\n"
    body = "".join(f"app 1/1 {t}: {period} cpu-clock:ppp:\n\t1 work (/usr/bin/app)\n\t2 main (/usr/bin/app)\n\n"
                   for t in times)
    path = tmp_path / "capture.perf.txt"
    path.write_text(head + body)
    return path


def report(path: Path) -> dict[str, Any]:
    proc = run_cli("analyze", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return strict(proc.stdout)


@pytest.mark.parametrize("sleep", ["inf", "nan", "-3", "0", HUGE])
def test_an_impossible_stated_duration_gives_way_to_the_time_stamps(tmp_path: Path, sleep: str) -> None:
    cap = report(capture(tmp_path, sleep=sleep))["capture"]
    assert cap["duration_source"] == "sample time stamps"
    assert cap["duration_s"] == pytest.approx(0.5 + 1 / 99, abs=1e-6)
    assert cap["cores_used"] is not None


def test_time_stamps_too_large_for_a_float_leave_the_duration_unknown(tmp_path: Path) -> None:
    path = capture(tmp_path, sleep=None, times=("100.0", f"{HUGE}.0"))
    data = report(path)
    assert data["capture"]["duration_s"] is None and data["capture"]["cores_used"] is None
    terminal = run_cli("analyze", str(path), "--width", "120").stdout
    duration = next(line for line in terminal.splitlines() if "Duration" in line)
    assert "unknown" in duration and not re.search(r"\b(inf|nan)\b", terminal, re.IGNORECASE)


def test_a_sample_frequency_too_large_for_a_float_is_not_believed(tmp_path: Path) -> None:
    cap = report(capture(tmp_path, freq=HUGE))["capture"]
    # The header's value is dropped; cpu-clock's period (ns between samples) still tells it.
    assert cap["frequency_source"] == "period"
    assert cap["frequency_hz"] == pytest.approx(99, abs=0.01)


def test_periods_too_large_for_a_float_never_reach_the_rates(tmp_path: Path) -> None:
    """A period of 320 digits is no 64-bit number: that sample is skipped with a warning, and the
    frequency and cores come from what is left (the header's frequency is unusable too)."""
    path = capture(tmp_path, sleep="2", freq=HUGE, times=("100.0", "100.5", "101.0"))
    text = path.read_text().replace("100.5: 10101010", "100.5: " + "9" * 320)
    path.write_text(text)
    proc = run_cli("analyze", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "64-bit" in proc.stderr
    cap = strict(proc.stdout)["capture"]
    assert cap["total_samples"] == 2
    assert cap["frequency_hz"] is not None and math.isfinite(cap["frequency_hz"])
    assert cap["cores_used"] is None or math.isfinite(cap["cores_used"])


@pytest.fixture
def old_report(tmp_path: Path) -> Path:
    """A saved report as an older version wrote it: `"duration_s": Infinity`, NaN cores."""
    proc = run_cli("analyze", str(fixture("stress-ng-memcpy.perf.txt.gz")), "--format", "json")
    text = proc.stdout.replace('"duration_s": ', '"duration_s": Infinity, "was": ', 1)
    text = text.replace('"cores_used": ', '"cores_used": NaN, "was_cores": ', 1)
    assert "Infinity" in text and "NaN" in text
    path = tmp_path / "old.json"
    path.write_text(text)
    return path


def test_a_saved_report_with_infinity_is_read_as_unknown(old_report: Path) -> None:
    explained = run_cli("explain", str(old_report), "--width", "120")
    assert explained.returncode == 0, explained.stderr
    first = explained.stdout.splitlines()[0]
    assert "duration unknown" in first and "inf" not in first
    diffed = run_cli("diff", str(old_report), str(fixture("stress-ng-memcpy.perf.txt.gz")), "--format", "json")
    assert diffed.returncode == 0, diffed.stderr
    assert strict(diffed.stdout)["before"]["duration_s"] is None
