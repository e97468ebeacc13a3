"""The built-in rule packs, tested as users test their own packs: each case in rules/tests
is a real (or, where no program here shows the pattern, synthetic) capture plus the findings
that must and must not appear. Test ids are the case names, so `pytest -k udp` finds them."""

from __future__ import annotations

import os
from functools import lru_cache

import pytest

from conftest import ROOT
from diagnose.engine import evaluate
from diagnose.knowledge import builtin_knowledge
from diagnose.pipeline import load_profile
from diagnose.rules import SEVERITIES
from diagnose.ruletest import load_with_builtin

TESTS = str(ROOT / "rules" / "tests")


@lru_cache(maxsize=1)
def ruleset_and_packs():
    return load_with_builtin([TESTS], builtin_knowledge())


def cases() -> list[tuple[str, dict]]:
    _, packs = ruleset_and_packs()
    return [(str(c.get("name")), {**c, "_pack": p.path}) for p in packs for c in p.tests]


@lru_cache(maxsize=None)
def findings_of(capture: str):
    ruleset, _ = ruleset_and_packs()
    return evaluate(load_profile(capture), ruleset, builtin_knowledge())


def label(f) -> str:
    return f"{f.id}:{f.subject}" if f.subject else f.id


@pytest.mark.parametrize("name,case", cases(), ids=[n for n, _ in cases()])
def test_builtin_rule_case(name: str, case: dict) -> None:
    capture = os.path.normpath(os.path.join(os.path.dirname(case["_pack"]), case["capture"]))
    evaluation = findings_of(capture)
    got = {f.id for f in evaluation.findings} | {label(f) for f in evaluation.findings}
    why = {t.id: t.why_not for t in evaluation.trace}
    for want in case.get("expect") or []:
        assert want in got, f"{want} did not fire: {why.get(want.split(':')[0])}"
    for unwanted in case.get("expect_not") or []:
        assert unwanted not in got, f"{unwanted} fired"
    if case.get("top"):
        first = next(f for f in evaluation.findings if f.explained_by is None)
        assert case["top"] in (first.id, label(first)), [label(f) for f in evaluation.findings]
    if case.get("severity_at_most"):
        limit = SEVERITIES.index(case["severity_at_most"])
        assert all(SEVERITIES.index(f.severity) <= limit for f in evaluation.findings)


def test_every_builtin_rule_has_a_firing_case_and_a_quiet_case() -> None:
    ruleset, packs = ruleset_and_packs()
    builtin = {r.id for r in ruleset.rules if r.pack in ("linux", "webrtc")}
    fires = {str(x).split(":")[0] for _, c in cases() for x in c.get("expect") or []}
    quiet = {str(x).split(":")[0] for _, c in cases() for x in c.get("expect_not") or []}
    assert builtin - fires == set(), "rules without a case that fires them"
    assert builtin - quiet == set(), "rules without a case where they must stay quiet"


def test_builtin_packs_hold_the_required_rules() -> None:
    ruleset, _ = ruleset_and_packs()
    ids = {r.id for r in ruleset.rules if r.pack in ("linux", "webrtc")}
    required = {"syscall-heavy", "udp-receive-heavy", "udp-send-heavy", "unix-socket-ipc", "codec-hot", "malloc-churn",
                "lock-contention", "memcpy-heavy", "page-fault-heavy", "mitigation-overhead", "srtp-crypto-hot",
                "video-scaling-hot", "audio-processing-hot", "pacer-gcc-hot"}
    assert required <= ids
    assert len(ids) >= 25
    for r in ruleset.rules:
        if r.pack in ("linux", "webrtc"):
            assert r.title.get("zh") and r.summary.get("zh"), f"{r.id} lacks Chinese text"
            if r.explanation:
                assert r.explanation.get("zh"), f"{r.id} lacks a Chinese explanation"
            for nh in r.not_helpful:
                assert nh.why.get("zh"), f"{r.id}: not_helpful {nh.id} lacks Chinese text"
