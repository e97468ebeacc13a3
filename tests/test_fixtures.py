"""The fixtures are what the tests stand on: real captures with a sidecar saying how they were
made, small enough for the repository."""

from __future__ import annotations

import yaml

from conftest import FIXTURES
from diagnose.pipeline import load_profile

REAL = sorted(p for p in FIXTURES.glob("*.perf.txt.gz"))


def test_fixtures_stay_under_15_mb() -> None:
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 15 * 1024 * 1024, total


def test_every_capture_has_a_sidecar_that_matches_it() -> None:
    assert len(REAL) >= 15
    for capture in REAL:
        sidecar = capture.with_name(capture.name.replace(".perf.txt.gz", ".yaml"))
        assert sidecar.exists(), f"{capture.name} has no sidecar"
        meta = yaml.safe_load(sidecar.read_text())
        for key in ("name", "description", "expect", "samples"):
            assert key in meta, f"{sidecar.name} lacks {key}"
        assert meta["name"] == capture.name.replace(".perf.txt.gz", "")
        if meta.get("kind") != "synthetic":
            assert "commands" in meta and (FIXTURES / "record" / f"{meta['name']}.sh").exists(), \
                f"{capture.name}: a real capture needs its recording commands and script"
        profile = load_profile(str(capture))
        # (the idle task's samples of a system-wide recording are counted apart, diagnose.model.idle)
        assert profile.total_samples + profile.capture.idle_samples == meta["samples"], capture.name


def test_synthetic_captures_are_marked_and_reproducible() -> None:
    import subprocess
    import sys

    synthetic = sorted((FIXTURES / "synthetic").glob("*.perf.txt.gz"))
    assert synthetic
    before = {p.name: p.read_bytes() for p in synthetic}
    subprocess.run([sys.executable, str(FIXTURES / "handwritten" / "make_synthetic.py")], check=True,
                   capture_output=True)
    assert {p.name: p.read_bytes() for p in synthetic} == before
