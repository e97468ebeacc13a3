"""Test cases shipped with rule packs: a capture and the findings that must and must not appear
(as semgrep and sqlfluff test their rules). Used by `diagnose rules test` and by the test suite."""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field
from typing import Any

from diagnose.core.errors import DiagnoseError
from diagnose.core.yamlfile import load_yaml_text
from diagnose.expert.knowledge import Knowledge
from diagnose.expert.problems import Problems
from diagnose.expert.rules import (
    SEVERITIES,
    Pack,
    RuleSet,
    builtin_pack_files,
    knowledge_of,
    merge_packs,
    parse_pack,
    read_packs,
)
from diagnose.orchestrate.pipeline import load_profile


@dataclass
class CaseResult:
    pack: str
    name: str
    capture: str
    line: int | None
    passed: bool
    problems: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)


def _label(f: Any) -> str:
    return f"{f.id}:{f.subject}" if f.subject else f.id


def _matches(want: str, findings: list[Any]) -> bool:
    return any(want in (f.id, _label(f)) for f in findings)


def load_with_builtin(paths: list[str], kb: Knowledge, problems: Problems | None = None) -> tuple[RuleSet, list[Pack]]:
    """The built-in packs and these, merged (RuleSet.knowledge has the packs' own knowledge),
    and the packs of `paths`. With `problems`, every error is kept there instead of raised."""
    builtin = [parse_pack(load_yaml_text(text, name), kb) for name, text in builtin_pack_files()]
    user = read_packs(paths, knowledge_of(builtin, kb), problems)
    return merge_packs(builtin + user, kb, problems), user


BUNDLED = "bundled:"


def capture_path(pack_path: str, capture: str) -> str:
    """Where a test case's capture is: `bundled:NAME` is a capture installed with diagnose
    (rules/captures/), any other path is relative to the pack's file."""
    if capture.startswith(BUNDLED):
        name = capture[len(BUNDLED):]
        root = importlib.resources.files("diagnose.builtin_rules") / "captures"
        if "/" in name or name.startswith(".") or not (root / name).is_file():
            return f"{BUNDLED}{name} (installed: {', '.join(sorted(_bundled(root))) or 'none'})"
        return str(root / name)
    return os.path.normpath(os.path.join(os.path.dirname(pack_path), capture))


def _bundled(root: Any) -> list[str]:
    return [r.name for r in root.iterdir() if r.name.endswith(".gz")] if root.is_dir() else []


def run_tests(paths: list[str], kb: Knowledge) -> list[CaseResult]:
    # networkx: loaded only when this runs
    from diagnose.expert.engine import evaluate

    ruleset, packs = load_with_builtin(paths, kb)
    kb = ruleset.knowledge or kb
    results: list[CaseResult] = []
    profiles: dict[str, Any] = {}
    cases = [(p, t) for p in packs for t in p.tests]
    if not cases:
        raise DiagnoseError(f"no test cases in {', '.join(paths)}; add tests: [{{capture: ..., expect: [...]}}] to a pack")
    for pack, case in cases:
        capture = capture_path(pack.path, str(case["capture"]))
        name = str(case.get("name") or os.path.basename(capture))
        if not os.path.exists(capture):
            results.append(CaseResult(pack.name, name, capture, case.get("_line"), False,
                                      [f"capture not found: {capture}"]))
            continue
        if capture not in profiles:
            profiles[capture] = load_profile(capture)
        evaluation = evaluate(profiles[capture], ruleset, kb)
        findings = evaluation.findings
        problems = []
        for want in case.get("expect") or []:
            if not _matches(str(want), findings):
                problems.append(f"expected {want} to fire; it did not ({_why(evaluation, str(want))})")
        for unwanted in case.get("expect_not") or []:
            if _matches(str(unwanted), findings):
                problems.append(f"expected {unwanted} not to fire; it fired")
        top = case.get("top")
        if top is not None:
            first = next((f for f in findings if f.explained_by is None), None)
            if first is None or str(top) not in (first.id, _label(first)):
                problems.append(f"expected {top} as the top finding; got {_label(first) if first else 'none'}")
        at_most = case.get("severity_at_most")
        if at_most is not None:
            over = [f for f in findings if SEVERITIES.index(f.severity) > SEVERITIES.index(str(at_most))]
            if over:
                problems.append(f"expected no finding above {at_most}; got {', '.join(f'{_label(f)} ({f.severity})' for f in over)}")
        results.append(CaseResult(pack.name, name, capture, case.get("_line"), not problems, problems,
                                  [_label(f) for f in findings]))
    return results


def _why(evaluation: Any, rid: str) -> str:
    rid = rid.split(":", 1)[0]
    for t in evaluation.trace:
        if t.id == rid:
            return t.why_not or t.status
    return "no such rule"
