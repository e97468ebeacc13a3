"""System-call overhead: for each user-space caller that enters the kernel (a libc wrapper such
as __libc_recvmsg), how many samples are in the entry/exit paths and how many are work the
kernel does for the call. Each sample counted once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from diagnose.knowledge import Knowledge
from diagnose.profile import Profile

_SYS = re.compile(r"^(?:__x64_sys_|__ia32_sys_|__arm64_sys_|__se_sys_|__do_sys_|ksys_|__sys_)(\w+)$")
TRANSITION_CATEGORIES = ("syscall-entry", "mitigation")


@dataclass
class SyscallRow:
    caller: str
    total: int = 0
    transitions: int = 0
    syscalls: dict[str, int] = field(default_factory=dict)

    @property
    def work(self) -> int:
        return self.total - self.transitions

    @property
    def syscall(self) -> str:
        return max(self.syscalls, key=lambda k: self.syscalls[k]) if self.syscalls else "?"


@dataclass
class SyscallBreakdown:
    total: int
    transitions: int
    rows: list[SyscallRow]


def syscall_breakdown(profile: Profile, kb: Knowledge) -> SyscallBreakdown:
    cats = kb.classify(profile)
    frames = profile.frames
    rows: dict[str, SyscallRow] = {}
    total = transitions = 0
    for s in profile.stacks:
        fr = s.frames
        if not fr:
            continue
        first_k = next((i for i, f in enumerate(fr) if frames[f].kind == "kernel"), None)
        if first_k is None:
            continue
        kernel_part = fr[first_k:]
        if not any(cats[f] is not None and cats[f].id == "syscall-entry" for f in kernel_part):
            continue  # an interrupt or a fault, not a system call
        caller = frames[fr[first_k - 1]].name if first_k > 0 else "[kernel thread]"
        row = rows.get(caller)
        if row is None:
            row = rows[caller] = SyscallRow(caller)
        n = s.samples
        row.total += n
        total += n
        leaf_cat = cats[fr[-1]]
        if leaf_cat is not None and leaf_cat.id in TRANSITION_CATEGORIES:
            row.transitions += n
            transitions += n
        for f in kernel_part:
            m = _SYS.match(frames[f].name)
            if m:
                name = m.group(1)
                row.syscalls[name] = row.syscalls.get(name, 0) + n
                break
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.caller))
    return SyscallBreakdown(total, transitions, ordered)
