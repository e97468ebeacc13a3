"""speedscope JSON: valid against the schema speedscope's npm package ships, and true to the profile."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, fixture, run_cli
from diagnose.pipeline import load_profile

# .ci/run unpacks `npm pack speedscope` here; the schema is not committed.
SCHEMA = ROOT / ".cache" / "speedscope" / "package" / "dist" / "release" / "file-format-schema.json"
CAPTURES = ("aiortc-call.perf.txt.gz", "gocpu.pprof.pb.gz", "pyspy-udp-send.folded.gz")


@pytest.fixture(scope="module")
def schema() -> dict:
    if not SCHEMA.exists():
        pytest.skip(f"speedscope's schema is not at {SCHEMA}: run `npm pack speedscope` and unpack it into "
                    f".cache/speedscope (as .ci/run does)")
    return json.loads(SCHEMA.read_text())


def speedscope(name: str, tmp_path: Path) -> dict:
    out = tmp_path / "profile.speedscope.json"
    proc = run_cli("analyze", str(fixture(name)), "--format", "speedscope", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", CAPTURES)
def test_speedscope_output_validates_against_speedscopes_schema(name: str, schema: dict, tmp_path: Path) -> None:
    import jsonschema

    doc = speedscope(name, tmp_path)
    jsonschema.validate(doc, schema)
    # and the schema is not one that takes anything
    broken = {**doc, "profiles": [{**doc["profiles"][0], "type": "flat"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_speedscope_holds_every_sample_once_per_thread(tmp_path: Path) -> None:
    doc = speedscope("aiortc-call.perf.txt.gz", tmp_path)
    profile = load_profile(str(fixture("aiortc-call.perf.txt.gz")))
    frames = doc["shared"]["frames"]
    want: Counter = Counter()
    for st in profile.stacks:
        if st.frames:
            th = profile.threads[st.thread]
            want[(th.comm, th.pid, th.tid, tuple(profile.frames[f].name for f in st.frames))] += st.samples
    got: Counter = Counter()
    for p in doc["profiles"]:
        assert p["type"] == "sampled" and p["unit"] == "none"
        assert p["endValue"] - p["startValue"] == sum(p["weights"])
        comm, ids = p["name"].rsplit(" (", 1)
        pid, tid = (int(x) for x in ids.rstrip(")").split("/"))
        for stack, weight in zip(p["samples"], p["weights"], strict=True):
            got[(comm, pid, tid, tuple(frames[i]["name"] for i in stack))] += weight
    assert got == want
    assert sum(got.values()) == profile.stack_samples == 851
    # the busiest thread first: what speedscope opens
    assert doc["profiles"][0]["endValue"] == max(p["endValue"] for p in doc["profiles"])
