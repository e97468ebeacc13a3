"""The shape of a saved JSON report, as far as `diagnose explain` reads it.

A report is a file a user may edit (or damage): before rendering one, every field the
explanation reads is checked to have the type it is used as, so that a report that is not
as diagnose writes it gets one line naming the field, not a traceback from deep in a renderer.
Fields are added to reports over time, never renamed: unknown fields are fine here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diagnose.core.errors import DiagnoseError

SEVERITIES = ("info", "low", "medium", "high", "critical")
WITHHELD = ("not-applicable", "already-in-effect", "needs-evidence")
# Deeper than any report diagnose writes: refused before anything walks it recursively.
MAX_DEPTH = 64


class _Bad(Exception):
    def __init__(self, where: str, expected: str, value: Any) -> None:
        super().__init__(where)
        self.where, self.expected, self.value = where, expected, value


@dataclass(frozen=True)
class Opt:
    """The key may be absent or null."""

    spec: Any


@dataclass(frozen=True)
class May:
    """The key may be absent (but not null: it is read with a default)."""

    spec: Any


STR, NUM, ANY = "text", "a finite number", "anything"


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _value(value: Any, where: str) -> None:
    """A measured value or threshold: a number is formatted as a float, so it must be one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not _number(value):
        raise _Bad(where, NUM, value)


def _one_of(*values: str) -> Callable[[Any, str], None]:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str) or value not in values:
            raise _Bad(where, f"one of {', '.join(values)}", value)
    return check


def _scalar(value: Any, where: str) -> None:
    if isinstance(value, (dict, list)):
        raise _Bad(where, "a text or a number", value)


TEXTS = Opt({"*": Opt({"*": Opt(STR)})})  # {lang: {key: text}}

CONDITION = {"group": STR, "measure": STR, "op": Opt(_scalar), "value": Opt(_value), "threshold": Opt(_value)}
RULE = {"id": STR, "status": STR, "title": Opt(STR), "why_not": Opt(STR), "derived": Opt([STR]),
        "conditions": May([CONDITION])}


def _recommendation(value: Any, where: str) -> None:
    _check(value, {"kind": STR, "texts": TEXTS, "title": Opt(STR), "where": Opt(STR), "why": Opt(STR),
                   "sources": Opt([{"id": STR, "title": May(STR)}])}, where)
    if value["kind"] == "sysctl":
        _check(value, {"key": ANY, "value": ANY, "apply": [ANY], "persist": [STR]}, where)
        if not value["apply"]:
            raise _Bad(f"{where}.apply", "a list with the command to apply it", value["apply"])


def _not_helpful(value: Any, where: str) -> None:
    _check(value, {"kind": STR, "texts": TEXTS, "title": Opt(STR), "why_here": Opt(STR)}, where)
    if value["kind"] == "sysctl":
        _check(value, {"key": ANY}, where)


def _withheld(value: Any, where: str) -> None:
    _check(value, {"status": _one_of(*WITHHELD), "texts": TEXTS, "title": Opt(STR), "why": Opt(STR)}, where)
    if value["status"] == "already-in-effect":
        _check(value, {"id": _scalar}, where)


def _evidence(value: Any, where: str) -> None:
    _check(value, {"stacks": Opt([{"share": NUM, "frames": [STR]}]), "already_satisfied": Opt([{"id": Opt(_scalar)}]),
                   "functions": Opt([{"name": STR, "module": STR, "inclusive_share": NUM, "self_share": NUM}])}, where)
    if value.get("counted") == "owned":
        _check(value, {"functions": Opt([{"owned_share": NUM}])}, where)


FINDING = {"id": STR, "severity": _one_of(*SEVERITIES), "score": NUM, "confidence": NUM, "texts": TEXTS,
           "title": Opt(STR), "summary": Opt(STR), "explanation": Opt(STR), "explains": Opt([STR]),
           "evidence": Opt(_evidence), "recommendations": May([_recommendation]), "not_helpful": May([_not_helpful]),
           "withheld": Opt([_withheld])}
REPORT = {"capture": May({}), "findings": Opt([FINDING]),
          "evaluation": Opt({"rules": May([RULE]), "facts": Opt({}), "notes": May([ANY])})}


_MISSING = object()


def _expected(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    return "a list" if isinstance(spec, list) else "a mapping" if isinstance(spec, dict) else "a value"


def _kind(value: Any) -> str:
    if value is _MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _check(value: Any, spec: Any, where: str) -> None:
    if spec is ANY:
        return
    if spec is STR:
        if not isinstance(value, str):
            raise _Bad(where, STR, value)
    elif spec is NUM:
        if not _number(value):
            raise _Bad(where, NUM, value)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise _Bad(where, "a list", value)
        for i, item in enumerate(value):
            _check(item, spec[0], f"{where}[{i}]")
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _Bad(where, "a mapping", value)
        if "*" in spec:
            for k, v in value.items():
                _check_key(value, k, spec["*"], f"{where}.{k}" if where else k)
        for k, sub in spec.items():
            if k != "*":
                _check_key(value, k, sub, f"{where}.{k}" if where else k)
    else:
        spec(value, where)


def _check_key(mapping: dict[str, Any], key: str, spec: Any, where: str) -> None:
    if isinstance(spec, Opt):
        if mapping.get(key) is not None:
            _check(mapping[key], spec.spec, where)
    elif isinstance(spec, May):
        if key in mapping:
            _check(mapping[key], spec.spec, where)
    elif key not in mapping:
        raise _Bad(where, _expected(spec), _MISSING)
    else:
        _check(mapping[key], spec, where)


def depth_within(data: Any, limit: int) -> bool:
    """Does `data` nest at most `limit` levels deep? (Walked without recursion.)"""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return True


def check_report(data: dict[str, Any], path: str, hint: str) -> None:
    """Refuse, in one line naming the field, a report that `diagnose explain` cannot read."""
    if not depth_within(data, MAX_DEPTH):
        raise DiagnoseError(f"{path}: nests deeper than {MAX_DEPTH} levels, which no diagnose report does; {hint}")
    try:
        _check(data, REPORT, "")
    except _Bad as bad:
        raise DiagnoseError(f"{path}: {bad.where}: expected {bad.expected}, found {_kind(bad.value)} (not a report as diagnose "
                            f"writes it); {hint}") from None
