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

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from diagnose.model.call_graph_mode import call_graph_mode
from diagnose.expert.diff_warnings import DiffWarning, diff_warnings, process_names
from diagnose.core.errors import DiagnoseError
from diagnose.model.profile import Frame, Profile, Thread
from diagnose.model.stats import Z95, wilson

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis
    from diagnose.expert.knowledge import Knowledge

REPORT_SCHEMA = "diagnose.report/v1"
ALPHA = 0.05
MIN_SHARE = 0.005   # 0.5 percentage points
MIN_CORES = 0.005   # half a percent of one core

Measure = Literal["shares", "cores"]


# -- statistics ----------------------------------------------------------------------------

def share_change(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """p2 - p1 with its 95% interval (Newcombe's hybrid score method, from Wilson intervals)."""
    p1 = k1 / n1 if n1 else 0.0
    p2 = k2 / n2 if n2 else 0.0
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def share_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if not n1 or not n2:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return math.erfc(abs(k2 / n2 - k1 / n1) / se / math.sqrt(2))


def poisson_interval(k: int, exposure: float, z: float = Z95) -> tuple[float, float]:
    """Score interval of a Poisson rate k/exposure."""
    half = z * math.sqrt(k + z * z / 4)
    centre = k + z * z / 2
    return max(0.0, centre - half) / exposure, (centre + half) / exposure


def rate_change(k1: int, e1: float, k2: int, e2: float, z: float = Z95) -> tuple[float, float, float]:
    """k2/e2 - k1/e1 with its 95% interval (MOVER from Poisson score intervals)."""
    r1, r2 = k1 / e1, k2 / e2
    l1, u1 = poisson_interval(k1, e1, z)
    l2, u2 = poisson_interval(k2, e2, z)
    d = r2 - r1
    return d, d - math.sqrt((r2 - l2) ** 2 + (u1 - r1) ** 2), d + math.sqrt((u2 - r2) ** 2 + (r1 - l1) ** 2)


def rate_p(k1: int, e1: float, k2: int, e2: float) -> float:
    """Two-sided p-value for equal Poisson rates: k2 | k1 + k2 ~ Binomial(k1 + k2, e2 / (e1 + e2)),
    normal approximation with continuity correction."""
    n = k1 + k2
    if n == 0:
        return 1.0
    pi = e2 / (e1 + e2)
    sd = math.sqrt(n * pi * (1 - pi))
    if sd == 0:
        return 1.0
    return math.erfc(max(0.0, abs(k2 - n * pi) - 0.5) / sd / math.sqrt(2))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# -- one side of a comparison --------------------------------------------------------------

@dataclass(frozen=True)
class FunctionCount:
    name: str
    module: str
    kind: str
    self_samples: int
    inclusive_samples: int


@dataclass(frozen=True)
class FindingInfo:
    id: str
    subject: str | None
    severity: str
    score: float
    title: str
    summary: str


@dataclass
class Side:
    """What a comparison needs of one capture or report."""

    source: str
    origin: Literal["capture", "report"]
    event: str | None
    stack_samples: int
    frequency_hz: float | None
    duration_s: float | None
    functions: dict[tuple[str, str], FunctionCount]
    components: dict[str, int]
    component_titles: dict[str, dict[str, str]]
    findings: dict[tuple[str, str | None], FindingInfo]
    profile: Profile | None = None
    # A report that lists only its top functions: (listed, total). Functions it does not list are
    # unknown there, not absent.
    partial: tuple[int, int] | None = None
    # The names of its processes, and how its call chains were unwound (diagnose.expert.diff_warnings).
    processes: frozenset[str] = frozenset()
    call_graph: str | None = None

    @property
    def exposure(self) -> float | None:
        """frequency x duration: the samples one fully busy core gives."""
        if self.frequency_hz and self.duration_s:
            return self.frequency_hz * self.duration_s
        return None

    def cores(self, samples: int) -> float | None:
        e = self.exposure
        return samples / e if e else None


def _base(module: str) -> str:
    return module.rsplit("/", 1)[-1]


def _add_function(out: dict[tuple[str, str], FunctionCount], name: str, module: str, kind: str,
                  self_k: int, inc_k: int) -> None:
    key = (name, _base(module))
    old = out.get(key)
    if old is None:
        out[key] = FunctionCount(name, module, kind, self_k, inc_k)
    else:  # the same function from two paths of one library
        out[key] = FunctionCount(name, old.module, old.kind, old.self_samples + self_k,
                                 old.inclusive_samples + inc_k)


def _finding_info(f: Any, lang: str) -> FindingInfo:
    def text(v: Any) -> str:
        if isinstance(v, dict):
            return str(v.get(lang) or v.get("en") or "")
        return "" if v is None else str(v)

    return FindingInfo(str(f.id), f.subject, str(f.severity), float(f.score),
                       text(getattr(f, "title", None)), text(getattr(f, "summary", None)))


def side_from_analysis(analysis: Analysis, kb: Knowledge, lang: str = "en") -> Side:
    from diagnose.expert.components import component_breakdown

    p = analysis.profile
    slf, inc = p.self_counts(), p.inclusive_counts()
    functions: dict[tuple[str, str], FunctionCount] = {}
    for i, f in enumerate(p.frames):
        if inc[i]:
            _add_function(functions, f.name, f.module, f.kind, slf[i], inc[i])
    rows = component_breakdown(p, kb)
    findings = {(f.id, f.subject): _finding_info(f, lang) for f in getattr(analysis, "findings", None) or []}
    cap = p.capture
    return Side(cap.source, "capture", cap.event, p.stack_samples, cap.frequency_hz, cap.duration_s, functions,
                {r.id: r.share.k for r in rows}, {r.id: r.title for r in rows}, findings, p,
                processes=process_names(p.threads), call_graph=call_graph_mode(cap.command))


def side_from_report(data: dict[str, Any], path: str, kb: Knowledge) -> Side:
    """A side from a saved JSON report: functions from profile.functions; components by
    classifying those functions with the knowledge base (as the capture would be)."""
    try:
        cap, prof = data["capture"], data["profile"]
        n = int(prof["stack_samples"])
        functions: dict[tuple[str, str], FunctionCount] = {}
        components: dict[str, int] = {}
        for row in prof["functions"]:
            name, module = str(row["name"]), str(row.get("module") or "")
            kind: Literal["kernel", "user"] = "kernel" if row.get("kind") == "kernel" else "user"
            self_k, inc_k = int(row["self_samples"]), int(row["inclusive_samples"])
            _add_function(functions, name, module, kind, self_k, inc_k)
            if self_k:
                frame = Frame(name, module, kind)
                comp = kb.component_of(frame, kb.category_of(frame))
                components[comp] = components.get(comp, 0) + self_k
        listed, total = len(prof["functions"]), int(prof.get("function_count") or 0)
        partial = (listed, total) if listed < total else None
        if partial is not None and isinstance(prof.get("components"), list):
            # The functions listed do not hold every self sample: take the report's own
            # component table (the attribution the capture had) instead.
            components = {str(c["id"]): int(c["samples"]) for c in prof["components"]}
        findings = {}
        for f in data.get("findings") or []:
            info = FindingInfo(str(f["id"]), f.get("subject"), str(f.get("severity", "info")),
                               float(f.get("score") or 0.0), str(f.get("title") or ""), str(f.get("summary") or ""))
            findings[(info.id, info.subject)] = info
    except (KeyError, TypeError, ValueError) as exc:
        raise DiagnoseError(f"{path}: the report lacks {exc} or has it in an unexpected form; "
                            f"write it again with `diagnose analyze CAPTURE --format json`") from None
    titles = {cid: kb.components[cid].title if cid in kb.components else {"en": cid, "zh": cid} for cid in components}
    procs = [p for p in cap.get("processes") or [] if isinstance(p, dict)]
    threads = [Thread(str(t.get("comm") or ""), t.get("pid"), t.get("tid")) for t in cap.get("threads") or []
               if isinstance(t, dict)]
    graph = cap.get("call_graph") if isinstance(cap.get("call_graph"), str) else call_graph_mode(cap.get("command"))
    return Side(str(cap.get("source") or path), "report", cap.get("event"), n, cap.get("frequency_hz"),
                cap.get("duration_s"), functions, components, titles, findings, partial=partial,
                processes=process_names(threads, procs), call_graph=graph)


def read_report(path: str) -> dict[str, Any] | None:
    """The JSON report at `path`, or None when the file is something else (a capture)."""
    if os.path.isdir(path):
        return None
    from diagnose.inputs.source import open_stream
    from diagnose.report.json_report import parse_report

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
    from diagnose.orchestrate.pipeline import analyze

    analysis = analyze(path, event=event, jobs=jobs, rules=rules, lang=lang)
    return side_from_analysis(analysis, analysis.knowledge or kb, lang), list(analysis.profile.capture.warnings)


# -- the comparison ------------------------------------------------------------------------

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


def diff_paths(before: str, after: str, event: str | None = None, jobs: int | None = None,
               rules: list[str] | None = None, lang: str = "en", min_share: float = MIN_SHARE,
               min_cores: float = MIN_CORES) -> tuple[Comparison, list[str]]:
    """Load both sides (captures or JSON reports) and compare them. Returns warnings too."""
    from diagnose.expert.knowledge import builtin_knowledge

    kb = builtin_knowledge()
    if rules:  # the packs' own categories and components, for the component tables
        from diagnose.expert.rules import load_packs

        kb = load_packs(rules, kb).knowledge or kb
    b, wb = load_side(before, kb, event, jobs, rules, lang)
    a, wa = load_side(after, kb, event, jobs, rules, lang)
    return compare(b, a, min_share, min_cores), [f"before: {w}" for w in wb] + [f"after: {w}" for w in wa]
