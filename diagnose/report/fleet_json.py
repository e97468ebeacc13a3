"""The many-captures JSON document (schema diagnose.fleet/v1). Other tools read it: fields are
only ever added, never renamed or removed. A finding's fields are those of the single-capture
report (diagnose.report/v1): each capture's cells keep a subset (diagnose.expert.fleet_result.CELL_FIELDS),
the merged profile's findings all of them."""

from __future__ import annotations

import json
from typing import Any

from diagnose import __version__
from diagnose.expert.fleet_result import CaptureResult, Fleet
from diagnose.report.fleet_rows import finding_rows

SCHEMA = "diagnose.fleet/v1"


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def _capture(c: CaptureResult, label: str) -> dict[str, Any]:
    return {
        "index": c.index + 1,
        "label": label,
        "source": c.path,
        "error": c.error,
        "format": c.format,
        "event": c.event,
        "frequency_hz": c.frequency_hz,
        "duration_s": _r(c.duration_s),
        "total_samples": c.total_samples,
        "stack_samples": c.stack_samples,
        "cores_used": _r(c.cores_used, 4),
        "truncated": c.truncated,
        "warnings": c.warnings,
        "findings": c.findings,
    }


def fleet_dict(fleet: Fleet) -> dict[str, Any]:
    merged: dict[str, Any] = {"captures": [i + 1 for i in fleet.merged_from], "refused": fleet.merge_refused,
                              "notes": fleet.merge_notes}
    if fleet.merged is not None:
        p = fleet.merged.profile
        merged.update({"event": p.capture.event, "events": p.capture.events, "frequency_hz": p.capture.frequency_hz,
                       "total_samples": p.total_samples, "stack_samples": p.stack_samples,
                       "unique_stacks": len(p.stacks),
                       "findings": [f.to_dict(fleet.lang) for f in fleet.merged.findings]})
    else:
        merged["findings"] = []
    return {
        "schema": SCHEMA,
        "tool": {"name": "diagnose", "version": __version__},
        "lang": fleet.lang,
        "captures": [_capture(c, lab) for c, lab in zip(fleet.captures, fleet.labels)],
        "failed": len(fleet.failed),
        "skipped": [{"path": p, "reason": why} for p, why in fleet.skipped],
        # One row per finding that fired on any capture; "cells" has one entry per capture (null:
        # the rule did not fire there, or the capture failed).
        "findings": [{"id": r.id, "title": r.title, "worst_severity": r.worst, "captures_fired": r.fired,
                      "cells": [None if c is None else {"severity": c["severity"], "share": c["share"],
                                                        "score": c["score"], "confidence": c["confidence"]}
                                for c in r.cells]}
                     for r in finding_rows(fleet)],
        "merged": merged,
    }


def render_fleet_json(fleet: Fleet) -> str:
    return json.dumps(fleet_dict(fleet), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
