"""`diagnose analyze A B C ...` and `diagnose analyze FOLDER`: one table of findings by capture
whose cells are what each capture's own analysis says, and the merged profile's findings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import fixture, run_cli

GOOD = ("aiortc-call.perf.txt.gz", "file-read.perf.txt.gz", "iperf3-udp-recv.perf.txt.gz", "socat-unix-ipc.perf.txt.gz")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real captures (given in reverse name order), a hidden copy, and a sidecar."""
    d = tmp_path_factory.mktemp("captures")
    for name in reversed(GOOD):
        shutil.copy(fixture(name), d / name)
    shutil.copy(fixture(GOOD[0]), d / ".hidden.perf.txt.gz")
    shutil.copy(fixture("aiortc-call.yaml"), d / "aiortc-call.yaml")
    return d


@pytest.fixture(scope="module")
def fleet(folder: Path) -> tuple[dict[str, Any], str]:
    out = folder.parent / "fleet.json"
    proc = run_cli("analyze", str(folder), "--format", "json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stderr


@pytest.fixture(scope="module")
def singles(folder: Path) -> dict[str, dict[str, Any]]:
    """Each capture's own `diagnose analyze --format json`."""
    out = {}
    for name in GOOD:
        proc = run_cli("analyze", str(folder / name), "--format", "json")
        assert proc.returncode == 0, proc.stderr
        out[name] = json.loads(proc.stdout)
    return out


def test_cells_are_each_captures_own_findings(fleet: tuple[dict[str, Any], str],
                                              singles: dict[str, dict[str, Any]]) -> None:
    doc, _ = fleet
    rows = {r["id"]: r for r in doc["findings"]}
    for i, cap in enumerate(doc["captures"]):
        single = singles[Path(cap["source"]).name]
        assert cap["total_samples"] == single["capture"]["total_samples"]
        assert cap["duration_s"] == single["capture"]["duration_s"]
        assert cap["frequency_hz"] == single["capture"]["frequency_hz"]
        expected = {f["id"]: (f["severity"], f["share"]) for f in single["findings"]}
        got = {fid: (r["cells"][i]["severity"], r["cells"][i]["share"]) for fid, r in rows.items() if r["cells"][i]}
        assert got == expected, cap["source"]
        assert expected, "each of these captures has findings"
        assert all(share is not None for _, share in expected.values())
    # a row exists only for a finding that fired somewhere, and says where
    for r in doc["findings"]:
        assert r["captures_fired"] == sum(c is not None for c in r["cells"]) >= 1


def test_folder_discovery_by_content_sorted_and_skips_said(folder: Path, fleet: tuple[dict[str, Any], str]) -> None:
    doc, stderr = fleet
    assert [Path(c["source"]).name for c in doc["captures"]] == sorted(GOOD)
    assert [c["label"] for c in doc["captures"]] == [n.removesuffix(".perf.txt.gz") for n in sorted(GOOD)]
    skipped = {Path(s["path"]).name: s["reason"] for s in doc["skipped"]}
    assert skipped[".hidden.perf.txt.gz"] == "hidden"
    assert "unknown format" in skipped["aiortc-call.yaml"]
    assert "aiortc-call.yaml: skipped, not a capture" in stderr
    assert "Traceback" not in stderr


def test_json_document_fields(fleet: tuple[dict[str, Any], str]) -> None:
    doc, _ = fleet
    assert doc["schema"] == "diagnose.fleet/v1"
    assert doc["failed"] == 0
    n = len(doc["captures"])
    for cap in doc["captures"]:
        for key in ("index", "label", "source", "error", "format", "event", "frequency_hz", "duration_s",
                    "total_samples", "stack_samples", "cores_used", "truncated", "warnings", "findings"):
            assert key in cap, key
        assert cap["error"] is None and cap["format"] == "perf-script"
    for row in doc["findings"]:
        assert len(row["cells"]) == n
    merged = doc["merged"]
    assert merged["refused"] is None and merged["captures"] == list(range(1, n + 1))
    assert merged["total_samples"] == sum(c["total_samples"] for c in doc["captures"])
    assert merged["findings"] and {"id", "severity", "score", "share", "summary"} <= set(merged["findings"][0])


def test_a_bad_capture_among_good_ones(folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.txt"
    bad.write_text("this is not a profile\n")
    out = tmp_path / "out.json"
    proc = run_cli("analyze", str(folder / GOOD[1]), str(bad), str(folder / GOOD[2]), "--format", "json",
                   "-o", str(out))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("diagnose: error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "unknown format" in errors[0]
    doc = json.loads(out.read_text())
    assert [c["error"] is None for c in doc["captures"]] == [True, False, True]
    assert doc["failed"] == 1
    assert doc["captures"][0]["findings"] and doc["captures"][2]["findings"]
    assert doc["merged"]["captures"] == [1, 3]


def test_fail_on_applies_to_every_capture(folder: Path) -> None:
    # iperf3-udp-recv alone has a high finding (udp-receive-heavy); idle-sleep has none that high
    proc = run_cli("analyze", str(fixture("idle-sleep.perf.txt.gz")), str(folder / "iperf3-udp-recv.perf.txt.gz"),
                   "--fail-on", "high", "--format", "markdown")
    assert proc.returncode == 3, proc.stderr
    assert "udp-receive-heavy (high)" in proc.stderr


@pytest.fixture(scope="module")
def folded(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three real captures as `diagnose collapse` folds them."""
    d = tmp_path_factory.mktemp("folded")
    out = []
    for name in ("iperf3-udp-send.perf.txt.gz", "socat-unix-ipc.perf.txt.gz", "stress-ng-futex.perf.txt.gz"):
        path = d / name.replace(".perf.txt.gz", ".folded")
        proc = run_cli("collapse", str(fixture(name)), "-o", str(path))
        assert proc.returncode == 0, proc.stderr
        out.append(path)
    return out


def test_merged_findings_are_those_of_the_concatenated_folded_stacks(folded: list[Path], tmp_path: Path) -> None:
    proc = run_cli("analyze", *map(str, folded), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(proc.stdout)["merged"]
    assert merged["refused"] is None
    concat = tmp_path / "all.folded"
    concat.write_bytes(b"".join(p.read_bytes() for p in folded))
    proc = run_cli("analyze", str(concat), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    single = json.loads(proc.stdout)
    key = lambda f: (f["id"], f["severity"], f["score"], f["share"], f["explained_by"])  # noqa: E731
    assert [key(f) for f in merged["findings"]] == [key(f) for f in single["findings"]]
    assert merged["total_samples"] == single["capture"]["total_samples"]
    assert len(merged["findings"]) >= 2


def test_terminal_table_fits_100_columns_with_many_captures(folded: list[Path]) -> None:
    paths = [str(p) for p in folded] * 5  # fifteen captures: more than one table of columns
    proc = run_cli("analyze", *paths, "--width", "100")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    headers = [line for line in lines if line.lstrip().startswith("finding")]
    assert len(headers) >= 2  # the captures' columns split over several tables
    assert "#15" in proc.stdout and "Cells: severity" in proc.stdout
    assert "All captures merged: " in proc.stdout


def test_a_capture_without_an_event_is_merged_with_a_note(tmp_path: Path) -> None:
    proc = run_cli("analyze", str(fixture("iperf3-udp-recv.perf.txt.gz")), str(fixture("pyspy-udp-send.folded.gz")),
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(proc.stdout)["merged"]
    assert merged["refused"] is None
    assert any("do not say which event" in n for n in merged["notes"])
