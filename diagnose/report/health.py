"""The one health line every report shows: CPU cores used of the cores available, the busiest
thread and how close it is to a full core, and whether datagrams were dropped. It reads what
`diagnose run` measured (per-thread counters from /proc, diagnose.capture.threadstat; socket counters,
diagnose.capture.netstat) and otherwise what the samples say, naming what was not measured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diagnose.expert.thread_facts import LANGS, measured, number, role, thread_label, thread_rows

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis


def _cores_available(analysis: Analysis) -> int | None:
    env = analysis.profile.capture.environment or {}
    cpu = env.get("cpu") if isinstance(env.get("cpu"), dict) else {}
    for value in (cpu.get("online_count"), cpu.get("count"), analysis.profile.capture.cpus_online):
        n = number(value)
        if n is not None and n >= 1:
            return int(n)
    return None


def _busiest(analysis: Analysis, threads: dict[str, Any] | None) -> dict[str, Any] | None:
    """The thread that used the most CPU: measured from /proc, else from its samples."""
    kb = analysis.knowledge
    if threads is not None:
        rows = [r for r in thread_rows(threads) if number(r.get("cores")) is not None]
        if rows:
            top = max(rows, key=lambda r: number(r["cores"]) or 0.0)
            return {"comm": top["comm"], "pid": top.get("pid"), "tid": top.get("tid"), "label": thread_label(top),
                    "role": role(kb, top), "cores": number(top["cores"]), "runnable": number(top.get("runnable")),
                    "wait_ratio": number(top.get("wait_ratio")), "source": "proc"}
    rows = [r for r in analysis.summary.threads if r.cores is not None]
    if not rows:
        return None
    top = max(rows, key=lambda r: r.cores or 0.0)
    key = top.key
    row = {"comm": str(key.get("comm")), "pid": key.get("pid"), "tid": key.get("tid")}
    return {**row, "label": thread_label(row), "role": role(kb, row), "cores": round(top.cores or 0.0, 4),
            "runnable": None, "wait_ratio": None, "source": "samples"}


def _drops(env: dict[str, Any]) -> dict[str, Any]:
    network = env.get("network")
    sockets = network.get("sockets") if isinstance(network, dict) else None
    if not isinstance(sockets, dict) or number(sockets.get("drops_per_s")) is None:
        return {"measured": False}
    udp = number(sockets.get("udp"))
    return {"measured": True, "drops": number(sockets.get("drops")), "drops_per_s": number(sockets["drops_per_s"]),
            "udp_sockets": int(udp) if udp is not None else None}


def health(analysis: Analysis) -> dict[str, Any]:
    """The health of the capture as data, with its line in each language under "text"."""
    env = analysis.profile.capture.environment or {}
    threads = measured(env)
    cores, source = (number(threads.get("cores")), "proc") if threads is not None else (None, None)
    if cores is None and analysis.summary.cores_used is not None:
        cores, source = round(analysis.summary.cores_used, 4), "samples"
    out: dict[str, Any] = {
        "cores_used": cores, "cores_source": source, "cores_available": _cores_available(analysis),
        "busiest_thread": _busiest(analysis, threads), "drops": _drops(env),
        "context_switches": {"measured": False},
    }
    if threads is not None and number(threads.get("voluntary_per_s")) is not None:
        out["context_switches"] = {"measured": True, "voluntary_per_s": number(threads.get("voluntary_per_s")),
                                   "involuntary_per_s": number(threads.get("involuntary_per_s"))}
    out["not_measured"] = [k for k in ("context_switches", "drops") if not out[k]["measured"]]
    out["text"] = {lang: health_text(out, lang) for lang in LANGS}
    return out


def health_text(h: dict[str, Any], lang: str) -> str:
    # yaml: loaded only when this runs
    from diagnose.report.labels import label

    def L(key: str, **values: Any) -> str:
        return label(key, lang).format(**values)

    parts = []
    sep = "" if lang == "zh" else " "
    used, available = h["cores_used"], h["cores_available"]
    if used is None:
        parts.append(L("h_cores_unknown"))
    else:
        cores = L("h_cores", used=f"{used:.2f}", available=available, pct=f"{100 * used / available:.0f}%") \
            if available else L("h_cores_no_total", used=f"{used:.2f}")
        parts.append(cores + (sep + L("h_from_samples") if h["cores_source"] == "samples" else ""))
    top = h["busiest_thread"]
    if top is None:
        parts.append(L("h_busiest_unknown"))
    else:
        line = L("h_busiest", thread=top["label"], cores=f"{top['cores']:.2f}", pct=f"{100 * top['cores']:.0f}%")
        if top["runnable"] is not None:
            runnable = f"{100 * top['runnable']:.0f}%"
            line += ("，" if lang == "zh" else ", ") + L("h_runnable", pct=runnable)
        if top["source"] == "samples":
            line += sep + L("h_from_samples")
        parts.append(line)
    switches = h["context_switches"]
    if switches["measured"]:
        parts.append(L("h_switches", vol=f"{switches['voluntary_per_s']:,.0f}",
                       invol=f"{switches['involuntary_per_s'] or 0:,.0f}"))
    else:
        parts.append(L("h_threads_not_measured"))
    drops = h["drops"]
    if not drops["measured"]:
        parts.append(L("h_drops_not_measured"))
    elif drops["drops_per_s"]:
        parts.append(L("h_drops", rate=f"{drops['drops_per_s']:,.1f}"))
    elif drops["udp_sockets"] == 0:
        parts.append(L("h_no_udp"))
    else:
        parts.append(L("h_no_drops", n=drops["udp_sockets"] if drops["udp_sockets"] is not None else "?"))
    return ("；" if lang == "zh" else "; ").join(parts)
