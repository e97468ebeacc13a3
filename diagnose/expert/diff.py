"""Comparing two captures (or saved JSON reports): functions, components and findings that grew or
shrank, in shares of samples and in CPU cores, each change with its 95% interval and a p-value;
only changes beyond sampling noise (after a Holm-Bonferroni correction) and above a practical
size are claimed.

Method. Functions are compared on their self samples (the samples taken in the function itself:
each sample belongs to exactly one function, so the changes add up to the change of the whole),
components on the self samples of their functions (as the reports break time down).
- Shares: k/n of the samples with a call chain. 95% interval of the difference by Newcombe's
  hybrid score method (from the two Wilson intervals); p-value from the pooled two-proportion z-test.
- Cores: k/(frequency x duration), when both captures know both. Sample counts are treated as
  Poisson; 95% interval of the difference by MOVER from the two Poisson score intervals; p-value
  from the conditional test (k_after given k_before + k_after is binomial under no change).
- A change is significant when its interval excludes 0, its Holm-adjusted p-value is below 0.05
  (family-wise, per family: functions in shares, functions in cores, components in shares,
  components in cores; Holm holds under any dependence between the items, which shares of one
  capture have), and it is at least 0.5 percentage points (shares) or 0.005 cores.
- The primary measure is cores when both captures have them (a change in CPU time is what a user
  pays for; shares move whenever anything else changes), else shares. Both are reported.
Samples of one capture are not fully independent (work comes in bursts), so the intervals are
somewhat optimistic; the practical threshold guards against claiming tiny changes."""


from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from diagnose.core.errors import DiagnoseError
from diagnose.expert.diff_sides import FindingInfo, FunctionCount, Side, side_from_analysis, side_from_report
from diagnose.expert.diff_stats import holm, poisson_interval, rate_change, rate_p, share_change, share_p
from diagnose.expert.diff_warnings import DiffWarning, diff_warnings

# The statistics and the sides live in their own modules; their names stay importable from here.
__all__ = ["ALPHA", "MIN_CORES", "MIN_SHARE", "REPORT_SCHEMA", "Amount", "Change", "Comparison", "Delta",
           "FindingChange", "FindingInfo", "FunctionCount", "Measure", "Side", "compare", "holm",
           "poisson_interval", "rate_change", "rate_p", "share_change", "share_p", "side_from_analysis",
           "side_from_report"]

REPORT_SCHEMA = "diagnose.report/v1"
ALPHA = 0.05
MIN_SHARE = 0.005   # 0.5 percentage points
MIN_CORES = 0.005   # half a percent of one core

Measure = Literal["shares", "cores"]


@dataclass(frozen=True)
class Amount:
    samples: int
    share: float
    cores: float | None


@dataclass
class Delta:
    value: float
    ci: tuple[float, float]
    p: float
    p_adjusted: float = 1.0
    significant: bool = False


@dataclass
class Change:
    kind: Literal["function", "component", "total"]
    name: str
    module: str
    before: Amount
    after: Amount
    share: Delta | None
    cores: Delta | None
    title: dict[str, str] = field(default_factory=dict)
    inclusive: tuple[float, float] | None = None  # inclusive shares before, after (functions)
    primary: Measure = "shares"

    @property
    def delta(self) -> Delta | None:
        return self.cores if self.primary == "cores" else self.share

    @property
    def significant(self) -> bool:
        d = self.delta
        return d is not None and d.significant

    @property
    def direction(self) -> str:
        d = self.delta
        if d is None or d.value == 0:
            return "same"
        return "grew" if d.value > 0 else "shrank"


@dataclass(frozen=True)
class FindingChange:
    id: str
    subject: str | None
    status: Literal["new", "resolved", "persists"]
    before: FindingInfo | None
    after: FindingInfo | None

    @property
    def score_change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after.score - self.before.score


@dataclass
class Comparison:
    before: Side
    after: Side
    primary: Measure
    total: Change
    components: list[Change]
    functions: list[Change]
    findings: list[FindingChange]
    min_share: float
    min_cores: float
    alpha: float
    notes: list[str] = field(default_factory=list)
    warnings: list[DiffWarning] = field(default_factory=list)

    def significant(self, changes: list[Change]) -> list[Change]:
        return [c for c in changes if c.significant]


def _amount(side: Side, k: int) -> Amount:
    return Amount(k, k / side.stack_samples if side.stack_samples else 0.0, side.cores(k))


def _change(kind: Literal["function", "component", "total"], name: str, module: str, before: Side, after: Side,
            k1: int, k2: int, primary: Measure) -> Change:
    share = None
    if kind != "total":
        d, lo, hi = share_change(k1, before.stack_samples, k2, after.stack_samples)
        share = Delta(d, (lo, hi), share_p(k1, before.stack_samples, k2, after.stack_samples))
    cores = None
    e1, e2 = before.exposure, after.exposure
    if e1 and e2:
        d, lo, hi = rate_change(k1, e1, k2, e2)
        cores = Delta(d, (lo, hi), rate_p(k1, e1, k2, e2))
    return Change(kind, name, module, _amount(before, k1), _amount(after, k2), share, cores, primary=primary)


def _decide(changes: list[Change], measure: Measure, minimum: float, alpha: float) -> None:
    deltas = [c.share if measure == "shares" else c.cores for c in changes]
    present = [d for d in deltas if d is not None]
    for d, adj in zip(present, holm([d.p for d in present])):
        d.p_adjusted = adj
        lo, hi = d.ci
        d.significant = adj < alpha and (lo > 0 or hi < 0) and abs(d.value) >= minimum


def compare(before: Side, after: Side, min_share: float = MIN_SHARE, min_cores: float = MIN_CORES,
            alpha: float = ALPHA) -> Comparison:
    if before.stack_samples == 0 or after.stack_samples == 0:
        empty = before if before.stack_samples == 0 else after
        raise DiagnoseError(f"{empty.source}: no samples with a call chain, nothing to compare; "
                            f"record with call graphs (perf record -g)")
    primary: Measure = "cores" if before.exposure and after.exposure else "shares"
    notes = []
    if primary == "shares":
        which = [s.source for s in (before, after) if not s.exposure]
        notes.append(f"CPU cores unknown for {', '.join(which)} (no sampling frequency or duration): "
                     f"compared in shares of samples only")
    if before.event and after.event and before.event != after.event:
        notes.append(f"the captures sampled different events (before: {before.event}, after: {after.event}); "
                     f"their shares compare, their sample counts may not")
    if before.frequency_hz and after.frequency_hz and before.frequency_hz != after.frequency_hz:
        notes.append(f"sampling frequencies differ ({before.frequency_hz:g} Hz vs {after.frequency_hz:g} Hz): "
                     f"compare cores, not sample counts")

    for side in (before, after):
        if side.partial is not None:
            notes.append(f"{side.source}: the report lists {side.partial[0]:,} of {side.partial[1]:,} functions; "
                         f"functions it does not list are not compared (write it with --all-functions to compare "
                         f"them all)")

    total = _change("total", "all", "", before, after, before.stack_samples, after.stack_samples, "cores")
    if total.cores is not None:
        lo, hi = total.cores.ci
        total.cores.p_adjusted = total.cores.p
        total.cores.significant = total.cores.p < alpha and (lo > 0 or hi < 0) and abs(total.cores.value) >= min_cores

    components = []
    for cid in sorted(set(before.components) | set(after.components)):
        c = _change("component", cid, "", before, after, before.components.get(cid, 0),
                    after.components.get(cid, 0), primary)
        c.title = after.component_titles.get(cid) or before.component_titles.get(cid) or {"en": cid}
        components.append(c)

    functions = []
    for key in sorted(set(before.functions) | set(after.functions)):
        fb, fa = before.functions.get(key), after.functions.get(key)
        if (fb is None and before.partial is not None) or (fa is None and after.partial is not None):
            continue  # not listed in a report of top functions: unknown there
        k1 = fb.self_samples if fb else 0
        k2 = fa.self_samples if fa else 0
        if k1 == 0 and k2 == 0:
            continue  # never sampled in itself on either side: no self change to test
        some = fa or fb
        assert some is not None
        c = _change("function", some.name, some.module, before, after, k1, k2, primary)
        c.inclusive = (fb.inclusive_samples / before.stack_samples if fb else 0.0,
                       fa.inclusive_samples / after.stack_samples if fa else 0.0)
        functions.append(c)

    for family in (components, functions):
        _decide(family, "shares", min_share, alpha)
        _decide(family, "cores", min_cores, alpha)
    def order(c: Change) -> tuple[bool, float, str, str]:
        return (not c.significant, -abs(c.delta.value) if c.delta else 0.0, c.name, c.module)

    components.sort(key=order)
    functions.sort(key=order)
    return Comparison(before, after, primary, total, components, functions, _findings(before, after),
                      min_share, min_cores, alpha, notes, diff_warnings(before, after))


def _findings(before: Side, after: Side) -> list[FindingChange]:
    out = []
    for key in set(before.findings) | set(after.findings):
        b, a = before.findings.get(key), after.findings.get(key)
        status: Literal["new", "resolved", "persists"] = "persists" if a and b else "new" if a else "resolved"
        out.append(FindingChange(key[0], key[1], status, b, a))
    order = {"new": 0, "resolved": 1, "persists": 2}

    def score(f: FindingChange) -> float:
        info = f.after or f.before
        return info.score if info else 0.0

    out.sort(key=lambda f: (order[f.status], -score(f), f.id, f.subject or ""))
    return out
