"""What the rule engine records of an evaluation: every condition's measured value, its threshold
and whether it passed (ConditionTrace), each rule's status (RuleTrace), the evaluation as a
whole, and the sentences that say why a rule did not fire. Reports read these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnose.expert.facts import as_number
from diagnose.expert.findings import Finding
from diagnose.expert.platform import Platform
from diagnose.expert.rules import ENGINE_VERSION, Condition, Selector

SHARE_MEASURES = ("inclusive_share", "self_share", "owned_share", "below_share", "attributed_share", "part_share",
                  "syscall_share",
                  "top_syscall", "top_category", "top_owned_category")
# Shown as percentages, but not shares of all samples (never a finding's main share).
PERCENT_MEASURES = SHARE_MEASURES + ("passes_through", "dominator")
OP_TEXT = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "==", "ne": "!="}


@dataclass
class ConditionTrace:
    group: str
    measure: str
    name: str | None
    value: Any
    op: str | None
    threshold: Any
    passed: bool | None
    reason: str | None = None
    line: int | None = None
    # What the value is about, when the measure names something (the dominating function).
    subject: str | None = None

    def text(self) -> str:
        shown = _shown(self.measure, self.value)
        if self.op is None:
            return f"{self.measure} = {shown}"
        return f"{self.measure} = {shown} {OP_TEXT[self.op]} {_shown(self.measure, self.threshold)}"

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "measure": self.measure, "name": self.name, "value": _json(self.value),
                "op": self.op, "threshold": _json(self.threshold), "passed": self.passed, "reason": self.reason,
                "line": self.line, "subject": self.subject}


@dataclass
class RuleTrace:
    id: str
    title: dict[str, str]
    pack: str
    source: str
    status: str  # fired | not-fired | not-applicable | disabled
    conditions: list[ConditionTrace] = field(default_factory=list)
    why_not: str | None = None
    score: float | None = None
    severity: str | None = None
    derived: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title.get("en"), "pack": self.pack, "source": self.source,
                "status": self.status, "why_not": self.why_not, "score": self.score, "severity": self.severity,
                "derived": self.derived, "conditions": [c.to_dict() for c in self.conditions]}


@dataclass
class Evaluation:
    findings: list[Finding]
    trace: list[RuleTrace]
    facts: dict[str, Any]
    notes: list[str]
    rules: int
    platform: Platform | None = None

    def to_dict(self) -> dict[str, Any]:
        # The platform is the report's top-level "platform", not repeated here.
        return {"engine": ".".join(map(str, ENGINE_VERSION)), "rules_evaluated": self.rules, "notes": self.notes,
                "facts": {k: _json(v) for k, v in self.facts.items()}, "rules": [t.to_dict() for t in self.trace]}


def _json(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    return v


def _shown(measure: str, v: Any) -> str:
    if v is None:
        return "unknown"
    if measure.startswith(PERCENT_MEASURES) and isinstance(v, (int, float)):
        return f"{100 * v:.2f}%"
    if measure.startswith("cores") and isinstance(v, (int, float)):
        return f"{v:.2f} cores"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def describe(c: Condition) -> str:
    if isinstance(c.arg, Selector):
        return f"{c.measure}({c.arg.describe()})"
    if isinstance(c.arg, dict):
        return f"{c.measure}(" + "; ".join(f"{k}: {v.describe() if isinstance(v, Selector) else v}"
                                           for k, v in c.arg.items()) + ")"
    if c.arg is None:
        return c.measure
    return f"{c.measure}({c.arg})"


def why_not(ct: ConditionTrace) -> str:
    if ct.passed is None:
        return f"{ct.measure}: {ct.reason or 'could not be measured'}"
    if ct.group == "none":
        return f"excluded: {ct.text()}"
    a, b = as_number(ct.value), as_number(ct.threshold)
    gap = ""
    if a is not None and b is not None:
        d = abs(b - a)
        if ct.measure.startswith(PERCENT_MEASURES):
            gap = f" (short by {100 * d:.2f} percentage points)" if ct.op in ("gte", "gt") else \
                f" (over by {100 * d:.2f} percentage points)"
        else:
            gap = f" (off by {d:g})"
    return f"{ct.measure} = {_shown(ct.measure, ct.value)}, needs {OP_TEXT[ct.op or 'gte']} " \
           f"{_shown(ct.measure, ct.threshold)}{gap}"
