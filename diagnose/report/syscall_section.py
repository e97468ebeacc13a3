"""The system-call overhead section as every report shows it (terminal, Markdown, HTML): the
shares in system calls, in their entry and exit paths and in the kernel's work, and one row per
system call the kernel entered (direction, share, entry/exit, loopback delivery, work, the
user-space frames that made it). Built once from syscalls.syscall_breakdown; each renderer only
lays it out."""

from __future__ import annotations

from dataclasses import dataclass, field

from diagnose.expert.analysis import Analysis
from diagnose.report.labels import label
from diagnose.report.model import ci_text, share_text
from diagnose.model.stats import Share
from diagnose.expert.syscalls import syscall_breakdown

ROWS = 10


def interval_text(share: Share) -> str:
    """The interval as the section shows it: "11.9–12.8%"."""
    return f"{ci_text(share)}%"


@dataclass
class SyscallRow:
    name: str
    direction: str  # in the report's language
    share: str
    entry_exit: str
    loopback: str
    work: str
    # The code that made the call (SyscallRow.made_by), else the wrapper frames above the kernel
    # when the call chain above them is broken; most samples first, at most two.
    callers: list[str]


@dataclass
class SyscallSection:
    # (label, share text, interval text): in system calls, then entry/exit and work unless inferred
    totals: list[tuple[str, str, str]] = field(default_factory=list)
    inferred: bool = False  # no kernel frames: calls inferred from user-space wrappers
    rows: list[SyscallRow] = field(default_factory=list)
    header: list[str] = field(default_factory=list)


def syscall_section(analysis: Analysis) -> SyscallSection | None:
    """None when there is nothing to show (no knowledge base or no samples with a call chain);
    a section with no totals when the samples hold no system call."""
    p, kb, lang = analysis.profile, analysis.knowledge, analysis.lang
    n = p.stack_samples
    if kb is None or not n:
        return None
    L = lambda k: label(k, lang)  # noqa: E731
    out = SyscallSection(header=[L("syscall"), L("direction"), L("share"), L("entry_exit"), L("loopback_delivery"),
                                 L("kernel_work"), L("caller")])
    sb = syscall_breakdown(p, kb, makers=True)
    if not sb.total:
        return out
    out.inferred = bool(sb.inferred)
    total, trans, work = Share(sb.total, n), Share(sb.transitions, n), Share(sb.total - sb.transitions, n)
    out.totals.append((L("in_syscalls"), share_text(total.value), interval_text(total)))
    if not out.inferred:
        out.totals.append((L("entry_exit"), share_text(trans.value), interval_text(trans)))
        out.totals.append((L("kernel_work"), share_text(work.value), interval_text(work)))
    for r in sb.rows[:ROWS]:
        out.rows.append(SyscallRow(
            name=r.name, direction=L(f"dir_{r.direction}"), share=share_text(r.total / n),
            entry_exit=share_text(r.transitions / n) if not out.inferred else "–",
            loopback=share_text(r.loopback / n) if r.loopback else "–",
            work=share_text(r.work / n) if not out.inferred else "–",
            callers=[w for w, _ in sorted((r.made_by or r.wrappers).items(), key=lambda kv: -kv[1])[:2]]))
    return out
