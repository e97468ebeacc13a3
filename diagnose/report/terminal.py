"""The rich terminal summary of an analysis, rendered to a string."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from diagnose.analysis import Analysis
from diagnose.report.trees import tree_lines
from diagnose.stats import Share, pct

TOP_FUNCTIONS = 15
TOP_GROUPS = 10


def _ci(share: Share) -> str:
    lo, hi = share.interval
    return f"{100 * lo:.1f}–{100 * hi:.1f}"


def _cores(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _module_label(module: str) -> str:
    return module.rsplit("/", 1)[-1] if module else ""


def overview_rows(analysis: Analysis) -> list[tuple[str, str]]:
    p, s = analysis.profile, analysis.summary
    cap = p.capture
    rows = [("Source", f"{cap.source} ({cap.format})")]
    if cap.event:
        others = [e for e in cap.events if e and e != cap.event]
        rows.append(("Event", cap.event + (f" (also in the file: {', '.join(others)})" if others else "")))
    samples = f"{cap.total_samples:,}"
    if cap.stackless_samples:
        samples += f" ({p.stack_samples:,} with a call chain, {cap.stackless_samples:,} without)"
    rows.append(("Samples", samples))
    rows.append(("Duration", f"{cap.duration_s:.2f} s (from the {cap.duration_source})" if cap.duration_s else "unknown"))
    rows.append(("Frequency", f"{cap.frequency_hz:g} Hz (from the {cap.frequency_source})" if cap.frequency_hz else "unknown"))
    if s.cores_used is not None and cap.frequency_hz and cap.duration_s:
        rows.append(("CPU cores used", f"{s.cores_used:.2f} = {cap.total_samples:,} samples / "
                                       f"({cap.frequency_hz:g} Hz × {cap.duration_s:.2f} s)"))
    else:
        rows.append(("CPU cores used", "unknown (needs the sampling frequency and the duration)"))
    if s.processes:
        procs = ", ".join(f"{r.label} ({_cores(r.cores)} cores)" if r.cores is not None else r.label
                          for r in s.processes[:6])
        rows.append(("Processes", f"{len(s.processes)}: {procs}"))
    elif cap.target_pids:
        rows.append(("Processes", f"{len(cap.target_pids)} recorded (pids {', '.join(map(str, cap.target_pids))}); "
                                  f"the samples carry thread ids only"))
    rows.append(("Threads", str(len(s.threads))))
    if cap.os_release or cap.cpu_model:
        host = ", ".join(x for x in (cap.hostname, cap.os_release and f"Linux {cap.os_release}", cap.cpu_model,
                                     cap.cpus_online and f"{cap.cpus_online} CPUs") if x)
        rows.append(("Host", host))
    if cap.command:
        rows.append(("Recorded with", " ".join(cap.command.split())))
    return rows


def _function_table(title: str, rows, which: str, denominator: int) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    t.add_column("#", justify="right", style="dim")
    t.add_column("function", overflow="fold", ratio=3)
    t.add_column("module", style="cyan", overflow="fold", ratio=1)
    t.add_column(f"{which} %", justify="right")
    t.add_column("95% CI", justify="right", style="dim")
    t.add_column("samples", justify="right")
    other = "incl %" if which == "self" else "self %"
    t.add_column(other, justify="right", style="dim")
    for i, r in enumerate(rows, 1):
        main, second = (r.self, r.inclusive) if which == "self" else (r.inclusive, r.self)
        name = Text(r.name)
        if r.kind == "kernel":
            name.append(" [k]", style="yellow")
        t.add_row(str(i), name, Text(_module_label(r.module)), pct(main.value), _ci(main), f"{main.k:,}",
                  pct(second.value))
    return t


def _group_table(title: str, rows, label: str, with_cores: bool) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column(label, overflow="fold")
    t.add_column("share", justify="right")
    t.add_column("95% CI", justify="right", style="dim")
    t.add_column("samples", justify="right")
    if with_cores:
        t.add_column("cores", justify="right")
    for r in rows:
        cells: list[str | Text] = [Text(r.label), pct(r.share.value), _ci(r.share), f"{r.share.k:,}"]
        if with_cores:
            cells.append(_cores(r.cores))
        t.add_row(*cells)
    return t


def renderables(analysis: Analysis) -> list:
    p, s = analysis.profile, analysis.summary
    out: list = []
    ov = Table.grid(padding=(0, 2))
    ov.add_column(style="bold")
    ov.add_column(overflow="fold")
    for k, v in overview_rows(analysis):
        ov.add_row(k, Text(v))
    out.append(Panel(ov, title="Capture overview", title_align="left", box=box.ROUNDED))
    if p.stack_samples == 0:
        cap = p.capture
        if cap.total_samples == 0:
            why = ("No samples: the recorded processes did not run on a CPU during the capture (idle or blocked), "
                   "or perf could not sample them. Nothing to break down.")
        else:
            why = f"None of the {cap.total_samples:,} samples has a call chain (recorded without -g?): nothing to break down."
        out.append(Text(why, style="bold"))
    else:
        note = Text(f"Shares are of the {p.stack_samples:,} samples with a call chain; 95% CI is the Wilson "
                    f"interval (a share from few samples is uncertain).", style="dim")
        out.append(note)
        out.append(_function_table("Hottest functions by self time (on CPU in the function itself)",
                                   s.top_self(TOP_FUNCTIONS), "self", p.stack_samples))
        out.append(_function_table("Hottest functions by inclusive time (the function and what it calls)",
                                   s.top_inclusive(TOP_FUNCTIONS), "incl", p.stack_samples))
        split = _group_table("Kernel / user (of the sampled instruction)", s.kernel_user, "side", True)
        out.append(split)
        out.append(Text(f"Samples with any kernel frame on the stack (system calls, interrupts): "
                        f"{pct(s.in_kernel.value)} ({_ci(s.in_kernel)})", style="dim"))
        modules = [type(r)(_module_label(r.label) or r.label, r.share, r.cores, r.key) for r in s.modules[:TOP_GROUPS]]
        out.append(_group_table("By module (DSO) of the sampled instruction", modules, "module", True))
        out.append(_group_table("By thread (share of all samples)", s.threads[:TOP_GROUPS], "thread (comm tid)", True))
        if s.trees:
            lines = Text()
            for tree in s.trees:
                for prefix, node_text, kind in tree_lines(analysis, tree):
                    lines.append(prefix, style="dim")
                    lines.append(node_text, style="yellow" if kind == "kernel" else "")
                    lines.append("\n")
                lines.append("\n")
            out.append(Panel(lines, title="Call chains from the hottest entry points (share of all samples with a "
                                          "call chain; kernel frames in yellow)", title_align="left",
                             box=box.ROUNDED))
    for w in p.capture.warnings:
        out.append(Text(f"warning: {w}", style="yellow"))
    return out


def render_terminal(analysis: Analysis, width: int = 110, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False, soft_wrap=False, legacy_windows=False)
    console.print(Group(*renderables(analysis)))
    return buf.getvalue()
