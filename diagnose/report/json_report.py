"""The versioned JSON report (schema diagnose.report/v1). Other tools read it: fields are only
ever added, never renamed or removed."""

from __future__ import annotations

import json
from typing import Any

from diagnose import __version__
from diagnose.core.errors import DiagnoseError
from diagnose.expert.analysis import Analysis
from diagnose.expert.components import component_breakdown
from diagnose.expert.measured_facts import report_block
from diagnose.expert.syscalls import syscall_breakdown
from diagnose.expert.thread_facts import measured
from diagnose.model.call_graph_mode import call_graph_mode
from diagnose.model.profile import cores_used
from diagnose.model.stats import Share
from diagnose.model.summary import GroupRow, TreeNode
from diagnose.report.health import health
from diagnose.report.sockets import sockets_dict

SCHEMA = "diagnose.report/v1"
# profile.functions lists the top this many by self and by inclusive samples, unless every
# function is asked for (--all-functions); profile.function_count says how many there are.
TOP_FUNCTIONS = 200


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def _share(share: Share) -> dict[str, Any]:
    lo, hi = share.interval
    return {"share": _r(share.value), "ci95": [_r(lo), _r(hi)]}


def _group(row: GroupRow) -> dict[str, Any]:
    out: dict[str, Any] = dict(row.key)
    out.update({"label": row.label, "samples": row.share.k, **_share(row.share), "cores": _r(row.cores, 4)})
    return out


def _thread(analysis: Analysis, row: GroupRow) -> dict[str, Any]:
    out = _group(row)
    kb = analysis.knowledge
    comm = str(row.key.get("comm", ""))
    role = kb.thread_role(comm) if kb is not None else None
    if role is not None:
        out["role"] = kb.role_text(comm, analysis.lang)  # type: ignore[union-attr]
        out["role_stack"] = role.stack or None
    return out


def _tree(analysis: Analysis, node: TreeNode) -> dict[str, Any]:
    f = analysis.profile.frames[node.frame]
    n = analysis.profile.stack_samples
    return {"name": f.name, "module": f.module, "kind": f.kind, "samples": node.samples,
            "share": _r(node.samples / n if n else 0.0),
            "children": [_tree(analysis, c) for c in node.sorted_children()]}


def report_dict(analysis: Analysis, all_functions: bool | None = None) -> dict[str, Any]:
    """The report as plain data. profile.functions holds the top TOP_FUNCTIONS functions by self
    and by inclusive samples, or all of them with all_functions (default: analysis.all_functions)."""
    p, s = analysis.profile, analysis.summary
    if all_functions is None:
        all_functions = analysis.all_functions
    cap = p.capture
    pids = sorted({t.pid for t in p.threads if t.pid is not None} or set(cap.target_pids))
    capture = {
        "source": cap.source,
        "format": cap.format,
        "event": cap.event,
        "events": cap.events,
        "total_samples": cap.total_samples,
        "stack_samples": p.stack_samples,
        "stackless_samples": cap.stackless_samples,
        "frequency_hz": cap.frequency_hz,
        "frequency_source": cap.frequency_source,
        "duration_s": _r(cap.duration_s),
        "duration_source": cap.duration_source,
        "cores_used": _r(s.cores_used, 4),
        "processes": [_group(r) for r in s.processes] if s.processes else [{"pid": pid} for pid in pids],
        "threads": [_thread(analysis, r) for r in s.threads],
        "target_pids": cap.target_pids,
        "command": cap.command,
        "hostname": cap.hostname,
        "os_release": cap.os_release,
        "perf_version": cap.perf_version,
        # how the call chains were unwound: fp, dwarf, lbr, none; null when the capture does not say
        "call_graph": call_graph_mode(cap.command),
        "cpus_online": cap.cpus_online,
        "cpu_model": cap.cpu_model,
        "captured_on": cap.captured_on,
        "kernel_frames_known": cap.kernel_frames_known,
        "truncated": cap.truncated,
        # --pid/--tid/--comm: what was selected ({pids, tids, comms, text, samples, of_samples,
        # threads, of_threads}); null when every thread is analysed. Shares are of the selected samples.
        "selection": cap.selection,
        "warnings": cap.warnings,
        # the off-CPU summary is the report's own "off_cpu", not repeated here
        "environment": {k: v for k, v in cap.environment.items() if k != "off_cpu"} if cap.environment else cap.environment,
        # diagnose run's redaction of the capture ({"redacted": N, "secrets_kept", "anonymized"}), or null
        "redaction": red if isinstance(red := (cap.environment or {}).get("redaction"), dict) else None,
    }
    n = p.stack_samples
    freq, dur = cap.frequency_hz, cap.duration_s
    functions = []
    limit = None if all_functions else TOP_FUNCTIONS
    for row in s.top_functions(limit):
        functions.append({
            "name": row.name,
            "module": row.module,
            "kind": row.kind,
            "self_samples": row.self.k,
            "inclusive_samples": row.inclusive.k,
            "self_share": _r(row.self.value),
            "self_ci95": [_r(x) for x in row.self.interval],
            "inclusive_share": _r(row.inclusive.value),
            "inclusive_ci95": [_r(x) for x in row.inclusive.interval],
            "inclusive_cores": _r(cores_used(row.inclusive.k, freq, dur), 4),
        })
    profile = {
        "total_samples": p.total_samples,
        "stack_samples": n,
        "share_denominator": "stack_samples",
        "unique_stacks": len(p.stacks),
        "function_count": s.function_count,
        "functions_listed": len(functions),
        "functions_limit": limit,
        "functions": functions,
        "split": {
            "by_leaf": {r.label: {"samples": r.share.k, **_share(r.share), "cores": _r(r.cores, 4)} for r in s.kernel_user},
            "in_kernel": {"samples": s.in_kernel.k, **_share(s.in_kernel)},
        },
        "modules": [_group(r) for r in s.modules],
        "threads": [_thread(analysis, r) for r in s.threads],
        "call_trees": [_tree(analysis, t) for t in s.trees],
    }
    if analysis.knowledge is not None:
        sb = syscall_breakdown(analysis.profile, analysis.knowledge, makers=True)
        profile["syscalls"] = {
            "samples": sb.total, **_share(Share(sb.total, n)), "transitions": sb.transitions,
            "loopback_delivery": sb.loopback, "inferred_from_wrappers": sb.inferred,
            "calls": [{"name": r.name, "direction": r.direction, "samples": r.total, **_share(Share(r.total, n)),
                       "transitions": r.transitions, "loopback_delivery": r.loopback, "work": r.work,
                       "caller_count": len(r.wrappers),
                       "callers": [{"name": w, "samples": k} for w, k in
                                   sorted(r.wrappers.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]],
                       "made_by": [{"name": w, "samples": k} for w, k in
                                   sorted(r.made_by.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]}
                      for r in sb.rows],
        }

        profile["components"] = [
            {"id": r.id, "title": r.title.get(analysis.lang) or r.title["en"], "samples": r.share.k, **_share(r.share),
             "cores": _r(r.cores, 4),
             "categories": [{"id": c, "samples": sh.k, **_share(sh)} for c, sh in r.categories]}
            for r in component_breakdown(analysis.profile, analysis.knowledge)]
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": {"name": "diagnose", "version": __version__},
        "lang": analysis.lang,
        "capture": capture,
        "profile": profile,
        "findings": [f.to_dict(analysis.lang) for f in analysis.findings],
        # cores, the busiest thread, drops; "text" holds the line in each language (diagnose.report.health)
        "health": health(analysis),
    }

    report["measurements"] = report_block(analysis)  # what `diagnose run` measured beside the stacks
    # What `diagnose run` measured beside the samples, by kind (null when not measured).
    report["measurements"]["threads"] = measured(cap.environment)
    off_cpu = (cap.environment or {}).get("off_cpu")
    if isinstance(off_cpu, dict):  # diagnose run --off-cpu: where the threads waited, apart from the CPU shares
        report["off_cpu"] = off_cpu
    # What `diagnose run` measured beside the stacks, one key per kind of measurement.
    measurements = report.setdefault("measurements", {})
    measurements["sockets"] = sockets_dict(analysis)
    if analysis.evaluation is not None:
        report["evaluation"] = analysis.evaluation.to_dict()
        if analysis.evaluation.platform is not None:
            report["platform"] = analysis.evaluation.platform.to_dict()
    if analysis.ruleset is not None:
        report["rule_packs"] = [{"name": p.name, "version": p.version, "path": p.path} for p in analysis.ruleset.packs]
    return report


def parse_report(raw: bytes, path: str, hint: str) -> dict[str, Any]:
    """A saved report from its bytes; one clear error when it is not valid JSON or not ours.
    `hint` says what to pass instead."""
    try:
        # NaN and Infinity are not JSON; older versions could write them: read them as unknown.
        data = json.loads(raw.decode("utf-8"), parse_constant=lambda _: None)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else path
        raise DiagnoseError(f"{where}: not valid JSON ({exc.__class__.__name__}); {hint}") from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise DiagnoseError(f"{path}: not a report ({str(exc).split(';')[0]}); {hint}") from None
    except RecursionError:
        raise DiagnoseError(f"{path}: not a report (it nests too deep to read); {hint}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise DiagnoseError(f"{path}: not a diagnose report (schema {found!r}, expected {SCHEMA!r}); {hint}")
    return data


def render_json(analysis: Analysis) -> str:
    # allow_nan=False: a NaN or Infinity that reaches the report is a bug to fail on, not JSON to write.
    return json.dumps(report_dict(analysis), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
