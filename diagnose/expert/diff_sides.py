"""One side of a `diagnose diff`: what a comparison needs of one capture, read from its analysis
or from a saved JSON report (functions by self and inclusive samples, components, findings, its
processes and how its call chains were unwound)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from diagnose.core.errors import DiagnoseError
from diagnose.model.call_graph_mode import call_graph_mode
from diagnose.model.profile import Frame, Profile, Thread

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis
    from diagnose.expert.knowledge import Knowledge


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


def process_names(threads: list[Any], processes: list[dict[str, Any]] | None = None) -> frozenset[str]:
    """The names of the processes a capture holds: each process's own name (the comm of its main
    thread, tid == pid) where pids are known, else its threads' names."""
    if processes:
        names = {str(p["comm"]) for p in processes if p.get("comm")}
        if names:
            return frozenset(names)
    main = {str(t.comm) for t in threads if t.pid is not None and t.tid == t.pid}
    return frozenset(main or {str(t.comm) for t in threads if getattr(t, "comm", None)})


def side_from_analysis(analysis: Analysis, kb: Knowledge, lang: str = "en") -> Side:
    # re2, yaml: loaded only when this runs
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
