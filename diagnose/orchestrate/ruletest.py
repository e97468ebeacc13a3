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


@dataclass(frozen=True)
class Miss:
    """One expectation of a test case that the capture did not meet. kind: "capture-missing",
    "not-fired" (`trace`: the rule's trace, why it did not fire), "fired", "top", "severity"."""

    kind: str
    subject: str  # the expected rule (or finding id:subject), the capture path, the severity
    got: str = ""  # the top finding that came instead
    trace: dict[str, Any] | None = None
    above: tuple[tuple[str, str], ...] = ()  # (finding, severity) of those above the severity

    def text(self) -> str:
        if self.kind == "capture-missing":
            return f"capture not found: {self.subject}"
        if self.kind == "not-fired":
            why = (self.trace or {}).get("why_not") or (self.trace or {}).get("status") or "no such rule"
            return f"expected {self.subject} to fire; it did not ({why})"
        if self.kind == "fired":
            return f"expected {self.subject} not to fire; it fired"
        if self.kind == "top":
            return f"expected {self.subject} as the top finding; got {self.got or 'none'}"
        return f"expected no finding above {self.subject}; got {', '.join(f'{f} ({sev})' for f, sev in self.above)}"


@dataclass
class CaseResult:
    pack: str
    name: str
    capture: str
    line: int | None
    passed: bool
    misses: list[Miss] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """The misses in English (`diagnose rules test` says them in the chosen language)."""
        return [m.text() for m in self.misses]


def _label(f: Any) -> str:
    return f"{f.id}:{f.subject}" if f.subject else f.id


def _matches(want: str, findings: list[Any]) -> bool:
    return any(want in (f.id, _label(f)) for f in findings)


def load_with_builtin(paths: list[str], kb: Knowledge, problems: Problems | None = None) -> tuple[RuleSet, list[Pack]]:
    """The built-in packs and these, merged (RuleSet.knowledge has the packs' own knowledge),
    and the packs of `paths`. With `problems`, every error is kept there instead of raised."""
    builtin = [parse_pack(load_yaml_text(text, name, trusted=True), kb) for name, text in builtin_pack_files()]
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
                                      [Miss("capture-missing", capture)]))
            continue
        if capture not in profiles:
            profiles[capture] = load_profile(capture)
        evaluation = evaluate(profiles[capture], ruleset, kb)
        findings = evaluation.findings
        problems: list[Miss] = []
        for want in case.get("expect") or []:
            if not _matches(str(want), findings):
                problems.append(Miss("not-fired", str(want), trace=_trace(evaluation, str(want))))
        for unwanted in case.get("expect_not") or []:
            if _matches(str(unwanted), findings):
                problems.append(Miss("fired", str(unwanted)))
        top = case.get("top")
        if top is not None:
            first = next((f for f in findings if f.explained_by is None), None)
            if first is None or str(top) not in (first.id, _label(first)):
                problems.append(Miss("top", str(top), _label(first) if first else ""))
        at_most = case.get("severity_at_most")
        if at_most is not None:
            over = [f for f in findings if SEVERITIES.index(f.severity) > SEVERITIES.index(str(at_most))]
            if over:
                problems.append(Miss("severity", str(at_most), above=tuple((_label(f), f.severity) for f in over)))
        results.append(CaseResult(pack.name, name, capture, case.get("_line"), not problems, problems,
                                  [_label(f) for f in findings]))
    return results


def _trace(evaluation: Any, rid: str) -> dict[str, Any] | None:
    """The trace of the rule a test case expected to fire (None: no such rule)."""
    rid = rid.split(":", 1)[0]
    return next((t.to_dict() for t in evaluation.trace if t.id == rid), None)
