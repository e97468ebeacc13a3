"""The report model: what every format of a report shows, decided once. The terminal, Markdown
(and so HTML) and JSON reports show the same sections, the same rows (the same number of
functions, threads, modules) and the same numbers, rounded the same way: shares as percentages
with two decimals ("12.34%", always said to be self or inclusive where a function has both),
95% intervals with one decimal, CPU cores with two ("1.05 cores"), sample counts whole with
thousands separators. Each renderer only lays these out and escapes the names its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from diagnose.core.texts import tr
from diagnose.expert.analysis import Analysis
from diagnose.model.call_graph_mode import call_graph_mode
from diagnose.model.programs import several_without_pids
from diagnose.model.stats import Share, pct, wilson
from diagnose.report.labels import figure_source, label, platform_text, redaction_text, texts

# How many rows each table of the report holds, in every format.
TOP_FUNCTIONS = 15
TOP_GROUPS = 10
TOP_PROCESSES = 6
TOP_HEALTHY = 10


def share_text(x: float) -> str:
    """A share of the samples: "12.34%"."""
    return pct(x)


def ci_text(share: Share) -> str:
    """A share's 95% interval, in percent without the sign: "11.9–12.8"."""
    lo, hi = share.interval
    return f"{100 * lo:.1f}–{100 * hi:.1f}"


def cores_text(x: float | None) -> str:
    """CPU cores, the number alone (a column headed "cores" or a text that names the unit)."""
    return "–" if x is None else f"{x:.2f}"


def samples_text(k: int) -> str:
    return f"{k:,}"


def module_label(module: str) -> str:
    """A module by its file name; the kernel as [kernel] (the JSON report keeps the full path)."""
    base = module.rsplit("/", 1)[-1] if module else ""
    return "[kernel]" if base == "[kernel.kallsyms]" else base


def call_graph_text(analysis: Analysis) -> str | None:
    mode = call_graph_mode(analysis.profile.capture.command)
    if mode is None:
        return None
    key = f"cg_{mode}"

    return label(key, analysis.lang) if key in texts() else mode


def captured_on_text(value: str) -> str:
    """perf's capture time ("Wed Nov 25 22:16:05 2026", pprof's with " UTC") as "2026-11-25 22:16:05"
    (" UTC" kept): the same in every language; a value in another form is shown as it is."""
    text = value.strip()
    utc = text.endswith(" UTC")
    try:
        when = datetime.strptime(text.removesuffix(" UTC").strip(), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return text
    return when.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if utc else "")


def overview_rows(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(key, label, text) for each row of the capture overview; `key` lets a renderer show the
    rows that are code (source, event, recorded_with) as code."""
    p, s = analysis.profile, analysis.summary
    cap = p.capture
    lang = analysis.lang
    L = lambda k: label(k, lang)  # noqa: E731
    # When it was captured comes first, as in the hand-written report the project started from.
    rows = [("captured_on", L("captured_on"), captured_on_text(cap.captured_on))] if cap.captured_on else []
    rows.append(("source", L("source"), f"{cap.source} ({cap.format})"))
    if cap.event:
        others = [e for e in cap.events if e and e != cap.event]
        rows.append(("event", L("event"), cap.event + (f" ({L('t_also_in_file')}: {', '.join(others)})" if others else "")))
    samples = samples_text(cap.total_samples)
    if cap.stackless_samples or not p.stack_samples:
        samples += f" ({samples_text(p.stack_samples)} {L('with_stack')})"
    if cap.idle_samples:  # a system-wide recording's idle CPUs, left out (diagnose.model.idle)
        samples += L("t_idle_left_out").format(idle=samples_text(cap.idle_samples))
    rows.append(("samples", L("samples"), samples))
    rows.append(("duration", L("duration"), f"{cap.duration_s:.2f} s {figure_source(cap.duration_source, lang)}"
                 if cap.duration_s else L("unknown")))
    rows.append(("frequency", L("frequency"), f"{cap.frequency_hz:g} Hz {figure_source(cap.frequency_source, lang)}"
                 if cap.frequency_hz else L("unknown")))
    if s.cores_used is not None and cap.frequency_hz and cap.duration_s:
        rows.append(("cores_used", L("cores_used"), L("cores_formula").format(
            cores=cores_text(s.cores_used), n=samples_text(cap.total_samples), hz=f"{cap.frequency_hz:g}",
            s=f"{cap.duration_s:.2f}")))
    else:
        rows.append(("cores_used", L("cores_used"), L("t_cores_unknown")))
    if s.processes:
        procs = ", ".join(f"{r.label} ({L('n_cores').format(v=cores_text(r.cores))})" if r.cores is not None else r.label
                          for r in s.processes[:TOP_PROCESSES])
        rows.append(("processes", L("processes"), f"{len(s.processes)}: {procs}"))
    elif cap.target_pids:
        rows.append(("processes", L("processes"), L("t_pids_only").format(n=len(cap.target_pids),
                                                                          pids=", ".join(map(str, cap.target_pids)))))
    elif several_without_pids(p) is not None:  # (the warning says how it shows)
        rows.append(("processes", L("processes"), L("t_processes_not_told_apart")))
    rows.append(("threads", L("threads"), str(len(s.threads))))
    platform = analysis.evaluation.platform if analysis.evaluation is not None else None
    software = platform_text(analysis, lang) if platform is not None and analysis.knowledge is not None else ""
    if software:  # (the signals it names can all be measurements shown elsewhere: then no row)
        rows.append(("software", L("software"), software))
    if cap.os_release or cap.cpu_model:
        host = ", ".join(x for x in (cap.hostname, cap.os_release and f"Linux {cap.os_release}", cap.cpu_model,
                                     cap.cpus_online and L("n_cpus").format(n=cap.cpus_online)) if x)
        rows.append(("host", L("host"), host))
    if cap.perf_version:
        rows.append(("perf_version", L("perf_version"), cap.perf_version))
    graph = call_graph_text(analysis)
    if graph:
        rows.append(("call_graph", L("call_graph"), graph))
    if cap.command:
        rows.append(("recorded_with", L("recorded_with"), " ".join(cap.command.split())))
    redaction = redaction_text(analysis)
    if redaction:
        rows.append(("redaction", L("redaction"), redaction))
    return rows


@dataclass(frozen=True)
class HealthyItem:
    rule: str
    title: str  # the rule's title: what it would report
    value: float
    high: float  # the upper end of the value's 95% interval
    threshold: float

    def text(self, lang: str) -> str:
        return label("healthy_item", lang).format(value=share_text(self.value), high=share_text(self.high),
                                                   threshold=share_text(self.threshold), id=self.rule, title=self.title)


def healthy_items(analysis: Analysis) -> list[HealthyItem]:
    """Rules that did not fire because a share stayed below their threshold, closest first. A
    share is called healthy only when its 95% interval, taken over the samples with a call chain,
    stays below the threshold: on a few samples (or none) nothing is. (A share of a part of the
    samples, such as syscall_share among system calls, is less certain than that; the guard is
    against calling a share of a handful of samples healthy, and the report shows no interval.)"""
    # networkx, re2: loaded only when this runs
    from diagnose.expert.engine import SHARE_MEASURES

    if analysis.evaluation is None or analysis.ruleset is None:
        return []
    n = analysis.profile.stack_samples
    found = {f.id for f in analysis.findings}  # a rule that fired for one process alone is not healthy
    out = []
    for t in analysis.evaluation.trace:
        if t.status != "not-fired" or t.id in found:
            continue
        rule = analysis.ruleset.by_id(t.id)
        if rule is None or "capture-quality" in rule.tags:
            continue
        c = next((c for c in t.conditions if c.group == "when" and c.op in ("gte", "gt") and c.measure.split("(")[0] in SHARE_MEASURES
                  and isinstance(c.value, (int, float))), None)
        if c is None or not isinstance(c.threshold, (int, float)) or c.threshold <= 0 or not n:
            continue
        high = wilson(round(float(c.value) * n), n)[1]
        if high >= c.threshold:
            continue
        out.append(HealthyItem(t.id, tr(rule.title, analysis.lang), float(c.value), high, float(c.threshold)))
    out.sort(key=lambda h: (-h.value / h.threshold, h.rule))
    return out[:TOP_HEALTHY]


def healthy_empty_text(analysis: Analysis) -> str:
    """What the Healthy list says when it has nothing."""
    if any(f.id == "idle-process" for f in analysis.findings) or not analysis.profile.stack_samples:
        return label("healthy_idle", analysis.lang)
    return label("healthy_none", analysis.lang)
