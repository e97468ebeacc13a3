"""What analysing many captures at once gives (diagnose.orchestrate.fleet builds it, the renderers
diagnose.report.fleet_* read it): each capture's result as plain, picklable data, and the
merged analysis of them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diagnose.model.profile import Frame, Thread

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

# The finding fields of the JSON report (diagnose.report/v1) each capture's cells keep.
CELL_FIELDS = ("id", "subject", "title", "severity", "score", "confidence", "share", "rank", "summary",
               "explained_by", "tags", "gain")


@dataclass
class CaptureResult:
    """One capture's analysis, as a worker process sends it back (plain, picklable data)."""

    index: int
    path: str
    error: str | None = None
    format: str | None = None
    event: str | None = None
    frequency_hz: float | None = None
    duration_s: float | None = None
    total_samples: int = 0
    stack_samples: int = 0
    cores_used: float | None = None
    truncated: bool = False
    kernel_frames_known: bool = True
    warnings: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    # The profile's frames, threads and (thread, frames, samples, weight) per stack, for the merge.
    frames: list[Frame] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    stacks: list[tuple[int, tuple[int, ...], int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Fleet:
    captures: list[CaptureResult]
    labels: list[str]
    skipped: list[tuple[str, str]]
    lang: str
    merged: Analysis | None = None
    merged_from: list[int] = field(default_factory=list)
    merge_notes: list[str] = field(default_factory=list)
    merge_refused: str | None = None

    @property
    def failed(self) -> list[CaptureResult]:
        return [c for c in self.captures if not c.ok]
