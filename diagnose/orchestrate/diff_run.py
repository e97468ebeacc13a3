"""`diagnose diff` driven end to end: each side read as a saved JSON report or analysed as a
capture through the pipeline, then compared (diagnose.expert.diff). The old import path
diagnose.diff leads here (diagnose/_moved.py), so the comparison's names are re-exported too."""

from __future__ import annotations

import os
from typing import Any

from diagnose.core.errors import DiagnoseError
from diagnose.expert.diff import *  # noqa: F403  (diagnose.diff's names, for its old import path)
from diagnose.expert.diff import __all__ as _comparison_names
from diagnose.expert.diff import MIN_CORES, MIN_SHARE, Comparison, compare
from diagnose.expert.diff_sides import Side, side_from_analysis, side_from_report
from diagnose.expert.knowledge import Knowledge, builtin_knowledge
from diagnose.expert.rules import load_packs
from diagnose.inputs.source import open_stream
from diagnose.orchestrate.pipeline import analyze
from diagnose.report.json_report import parse_report

__all__ = [*_comparison_names, "diff_paths", "load_side", "read_report"]


def read_report(path: str) -> dict[str, Any] | None:
    """The JSON report at `path`, or None when the file is something else (a capture)."""
    if os.path.isdir(path):
        return None
    stream, _ = open_stream(path)
    with stream:
        head = stream.read(64).lstrip()
        if not head.startswith(b"{") or head[1:].lstrip()[:1] not in (b'"', b"}"):
            return None
        raw = head + stream.read()
    return parse_report(raw, path, "pass a capture or a report written by `diagnose analyze --format json`")


def load_side(path: str, kb: Knowledge, event: str | None = None, jobs: int | None = None,
              rules: list[str] | None = None, lang: str = "en") -> tuple[Side, list[str]]:
    """A capture (analysed, rules included) or a JSON report, told apart by content. Returns the
    side and the warnings of reading it."""
    data = read_report(path)
    if data is not None:
        if event is not None and data["capture"].get("event") not in (None, event):
            raise DiagnoseError(f"{path}: a report of event {data['capture'].get('event')}; --event {event} "
                                f"cannot apply to a saved report")
        return side_from_report(data, path, kb), []
    analysis = analyze(path, event=event, jobs=jobs, rules=rules, lang=lang)
    return side_from_analysis(analysis, analysis.knowledge or kb, lang), list(analysis.profile.capture.warnings)


def diff_paths(before: str, after: str, event: str | None = None, jobs: int | None = None,
               rules: list[str] | None = None, lang: str = "en", min_share: float = MIN_SHARE,
               min_cores: float = MIN_CORES) -> tuple[Comparison, list[str]]:
    """Load both sides (captures or JSON reports) and compare them. Returns warnings too."""
    kb = builtin_knowledge()
    if rules:  # the packs' own categories and components, for the component tables
        kb = load_packs(rules, kb).knowledge or kb
    b, wb = load_side(before, kb, event, jobs, rules, lang)
    a, wa = load_side(after, kb, event, jobs, rules, lang)
    return compare(b, a, min_share, min_cores), [f"before: {w}" for w in wb] + [f"after: {w}" for w in wa]
