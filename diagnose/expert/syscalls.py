"""System calls by what the kernel did: each sample inside a system call is counted once, under
the call the kernel entered (__x64_sys_sendto is sendto, whichever user-space wrapper made it:
libc's __libc_sendto, Go's single syscall.Syscall6). Interrupts and page faults taken in user
space are not system calls.

Profiles without kernel frames (py-spy --native, pprof, perf without kernel symbols) cannot see
the kernel side: there a sample whose leaf is a system-call wrapper is counted as time in the
call the wrapper names (`sendto (libc.so.6)`, Go's syscall.sendto above syscall.Syscall6), and
marked as inferred.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from diagnose.expert.attribution import attribution
from diagnose.expert.knowledge import Knowledge
from diagnose.model.profile import Frame, Profile

_SYS = re.compile(r"^(?:__x64_sys_|__ia32_sys_|__arm64_sys_|__riscv_sys_|__se_sys_|__do_sys_|__ia32_compat_sys_"
                  r"|__x64_compat_sys_)(\w+)$")
# Where the kernel inlines or tail-calls the dispatch frame away (6.x kernels go straight from
# do_syscall_64 to ksys_read), the next layer still names the call.
_SYS_INNER = re.compile(r"^(?:ksys_|__sys_|do_sys_)(\w+)$")
# Frames only a system call passes through (entry, dispatch, the syscall-specific exit path).
_ENTRY = re.compile(r"^(?:entry_SYSCALL_64.*|do_syscall_64|entry_SYSCALL_compat.*|do_fast_syscall_32|do_int80_syscall_32"
                    r"|el0_svc.*|do_el0_svc.*|invoke_syscall.*|x64_sys_call|syscall_return_via_sysret|entry_SYSRETQ.*"
                    r"|syscall_exit_to_user_mode.*|__syscall_exit_to_user_mode_work|syscall_exit_work"
                    r"|syscall_enter_from_user_mode.*|syscall_trace_enter.*)$")
TRANSITION_CATEGORIES = ("syscall-entry", "mitigation")
UNNAMED = "(unnamed)"  # inside a system call whose name neither the kernel nor the wrapper frames tell
LOOPBACK_CATEGORY = "loopback-delivery"
# Calls that move data out of / into a descriptor (sockets among others).
SEND_CALLS = frozenset(("sendto", "sendmsg", "sendmmsg", "send", "write", "writev", "pwrite64", "pwritev",
                        "pwritev2", "sendfile64", "sendfile"))
RECV_CALLS = frozenset(("recvfrom", "recvmsg", "recvmmsg", "recv", "read", "readv", "pread64", "preadv",
                        "preadv2"))
# Names a user-space wrapper may carry (after stripping __libc_, __GI___ and the like) that are
# system calls; anything else (syscall.Syscall6, syscall(2)) names no call by itself.
KNOWN_CALLS = SEND_CALLS | RECV_CALLS | frozenset((
    "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "futex",
    "nanosleep", "clock_nanosleep", "sched_yield", "ioctl", "fcntl", "open", "openat", "close", "mmap", "munmap",
    "mremap", "madvise", "mprotect", "brk", "accept", "accept4", "connect", "socket", "bind", "getsockopt",
    "setsockopt", "getsockname", "getpeername", "shutdown", "io_uring_enter", "io_submit", "io_getevents",
    "eventfd2", "timerfd_settime", "clock_gettime", "gettimeofday", "getpid", "gettid", "tgkill", "kill",
    "rt_sigprocmask", "rt_sigaction", "sigaltstack", "exit_group", "wait4", "clone", "clone3", "prctl",
    "fstat", "newfstatat", "statx", "lseek", "fsync", "fdatasync", "splice", "vmsplice", "tee", "pipe2",
    "getrandom", "getrusage", "sched_getaffinity", "membarrier", "rseq", "restart_syscall",
))
_WRAPPER_PREFIX = re.compile(r"^(?:__GI_)?(?:__libc_|__)?")
_WRAPPER_SUFFIX = re.compile(r"(?:@.*|_nocancel)$")
_GO_CALL = re.compile(r"^(?:syscall|golang\.org/x/sys/unix|internal/syscall/unix)\.([a-z][a-z0-9_]*)$")


# Go's runtime makes its own system calls (no libc): runtime.futex is futex, and so on.
_GO_RUNTIME_CALLS = {"runtime.futex": "futex", "runtime.epollwait": "epoll_wait", "runtime.epollctl": "epoll_ctl",
                     "runtime.usleep": "nanosleep", "runtime.madvise": "madvise", "runtime.munmap": "munmap",
                     "runtime.mmap": "mmap", "runtime.sysMmap": "mmap", "runtime.read": "read", "runtime.write1": "write",
                     "runtime.osyield": "sched_yield", "runtime.tgkill": "tgkill", "runtime.rtsigprocmask": "rt_sigprocmask",
                     "runtime.sched_getaffinity": "sched_getaffinity", "runtime.clone": "clone",
                     "runtime.sigaltstack": "sigaltstack", "runtime.exit": "exit_group"}


# Source files of interpreted code (py-spy, rbspy, perf's Python maps): a function named read or
# write there is the program's own, not a system-call wrapper.
_SCRIPT_MODULE = re.compile(r"\.(?:py|pyx|pyc|rb|js|mjs|cjs|lua|pl|php)$")


def wrapper_call(name: str, module: str = "") -> str | None:
    """The system call a user-space wrapper frame names, if it names one: native code only."""
    if _SCRIPT_MODULE.search(module) or name.startswith("py::"):
        return None
    go = _GO_RUNTIME_CALLS.get(name.removesuffix(".abi0"))
    if go is not None:
        return go
    m = _GO_CALL.match(name)
    if m:
        call = m.group(1)
    else:
        call = _WRAPPER_SUFFIX.sub("", _WRAPPER_PREFIX.sub("", name, count=1))
    if call == "fcntl64":
        call = "fcntl"
    return call if call in KNOWN_CALLS else None


@dataclass(frozen=True, slots=True)
class StackCall:
    """The system call a stack is in: its name, the user-space frame that made it (the frame
    just above the kernel, or the named wrapper), and whether it was read from a wrapper only."""

    name: str
    wrapper: int | None
    inferred: bool = False


def has_kernel_frames(profile: Profile) -> bool:
    return any(f.kind == "kernel" for f in profile.frames)


def stack_calls(profile: Profile) -> list[StackCall | None]:
    """The system call of every stack of a profile (None: not in a system call). Cached."""
    cached = getattr(profile, "_stack_calls", None)
    if cached is not None:
        return cached
    frames = profile.frames
    kernel_seen = has_kernel_frames(profile)
    sys_name, inner_name, entry, wrapper_name = _frame_calls(profile)
    out: list[StackCall | None] = []
    unnamed: list[tuple[int, int]] = []  # (stack, first kernel frame): entry/exit paths no frame names
    by_wrapper: dict[int | None, dict[str, int]] = {}
    kernel = [f.kind == "kernel" for f in frames]
    naming = frozenset(i for i, f in enumerate(frames) if sys_name[i] or inner_name[i])
    for s in profile.stacks:
        fr = s.frames
        call: StackCall | None = None
        if kernel_seen:
            k = len(fr)  # user frames come first, kernel frames last
            while k > 0 and kernel[fr[k - 1]]:
                k -= 1
            if k < len(fr):
                wrapper = fr[k - 1] if k > 0 else None
                name = None
                if not naming.isdisjoint(fr):
                    name = next((sys_name[f] for f in fr[k:] if sys_name[f]), None) or \
                        next((inner_name[f] for f in fr[k:] if inner_name[f]), None)
                if name:
                    call = StackCall(name, wrapper)
                    counts = by_wrapper.setdefault(wrapper, {})
                    counts[name] = counts.get(name, 0) + s.samples
                elif any(entry[f] for f in fr[k:]):
                    unnamed.append((len(out), k))
        elif fr:
            call = _inferred(fr, frames, wrapper_name)
        out.append(call)
    for i, k in unnamed:
        # In the entry or exit path of a call the kernel frames do not name: the call the same
        # wrapper frame enters elsewhere (glibc's select() enters pselect6), else the call the
        # wrapper's own name says.
        fr = profile.stacks[i].frames
        wrapper = fr[k - 1] if k > 0 else None
        seen = by_wrapper.get(wrapper)
        if seen:
            name = max(sorted(seen), key=lambda c: seen[c])
        else:
            guess = _inferred(fr[:k], frames, wrapper_name) if k > 0 else None
            name = guess.name if guess is not None else UNNAMED
        out[i] = StackCall(name, wrapper)
    profile._stack_calls = out  # type: ignore[attr-defined]
    return out


_FrameCalls = tuple[list[str | None], list[str | None], list[bool], list[str | None]]


def _frame_calls(profile: Profile) -> _FrameCalls:
    """Per frame: the system call its kernel name says (sys_sendto), the one an inner kernel
    function says, whether it is a kernel entry or exit path, the call a user-space wrapper
    names. A selection's frames (profile.Origin) take them from their parent when it has them."""
    origin = profile.origin
    parent = getattr(origin.parent, "_frame_calls", None) if origin is not None else None
    if origin is not None and parent is not None:
        calls = tuple([column[f] for f in origin.frames] for column in parent)
    else:
        frames = profile.frames
        calls = ([_sys_name(f) for f in frames], [_sys_inner(f) for f in frames],
                 [f.kind == "kernel" and _ENTRY.match(f.name) is not None for f in frames],
                 [wrapper_call(f.name, f.module) for f in frames])
    profile._frame_calls = calls  # type: ignore[attr-defined]
    return calls  # type: ignore[return-value]


def _sys_name(f: Frame) -> str | None:
    if f.kind != "kernel":
        return None
    m = _SYS.match(f.name)
    return m.group(1) if m else None


def _sys_inner(f: Frame) -> str | None:
    if f.kind != "kernel":
        return None
    m = _SYS_INNER.match(f.name)
    return m.group(1) if m and m.group(1) in KNOWN_CALLS else None


# Frames that are only plumbing around a wrapper: a leaf in them is still in the call below.
_GO_WRAPPERS = re.compile(r"^(?:syscall\.(?:Syscall6?|RawSyscall6?|syscall6?|rawsyscall6?|rawVforkSyscall)"
                          r"|runtime/internal/syscall\.Syscall6|internal/runtime/syscall(?:/linux)?\.Syscall6"
                          r"|runtime\.(?:entersyscall|exitsyscall|reentersyscall)\w*|syscall)$")


def _inferred(fr: tuple[int, ...], frames: list[Frame], wrapper_name: list[str | None]) -> StackCall | None:
    """A user-only stack whose leaf is a system-call wrapper: the call it names, looking up
    through generic wrappers (Go's syscall.Syscall6 under syscall.sendto)."""
    for pos in range(len(fr) - 1, -1, -1):
        f = fr[pos]
        name = wrapper_name[f]
        if name:
            return StackCall(name, f, inferred=True)
        if not _GO_WRAPPERS.match(frames[f].name):
            return None
    return None


# Go's standard-library I/O between a program and its system-call wrappers: net.(*UDPConn).WriteTo
# -> net.(*netFD).writeTo -> internal/poll.(*FD).WriteTo -> syscall.sendto. Plumbing, like libc's
# __libc_sendmsg: the code that makes the call is above it.
# (The Go runtime's own calls, netpoll's epoll_pwait and the scheduler's futex, are made by the
# runtime: it is not plumbing to look past.)
_GO_IO_PLUMBING = re.compile(r"(?:net|os|io|bufio|internal/poll|internal/syscall/unix|syscall"
                             r"|golang\.org/x/sys/unix)\.[^/]*")
# The C library's own frames around a wrapper (sem_timedwait -> __new_sem_wait_slow -> futex), by
# module, and by glibc's internal names (__GI_*, __libc_*, _IO_*), which perf's DWARF unwinding can print
# with the module of the function they were inlined into.
_C_LIBRARY_NAME = re.compile(r"__GI_.*|__libc_.*|_IO_.*")
_C_LIBRARY = re.compile(r"(?:.*/)?(?:(?:libc|libpthread|librt|libdl)(?:-[\d.]+)?\.so(?:\.\d+)*"
                        r"|ld-musl-[\w-]+\.so(?:\.\d+)*|libc\.musl-[\w-]+\.so(?:\.\d+)*)")
WRAPPER_CATEGORY = "syscall-wrappers"


@dataclass
class SyscallRow:
    """One system call: its samples, how many are bare entry/exit, how many loopback delivery
    (inside a send), the user-space frames that made it (the wrapper just above the kernel) and
    the code that called those (made_by: the first named frame above the wrappers and Go's I/O
    plumbing; what a user reads as "who sends")."""

    name: str
    total: int = 0
    transitions: int = 0
    loopback: int = 0
    wrappers: dict[str, int] = field(default_factory=dict)
    made_by: dict[str, int] = field(default_factory=dict)

    @property
    def work(self) -> int:
        return self.total - self.transitions

    @property
    def direction(self) -> str:
        return "send" if self.name in SEND_CALLS else "receive" if self.name in RECV_CALLS else "other"


@dataclass
class SyscallBreakdown:
    total: int
    transitions: int
    rows: list[SyscallRow]
    inferred: bool  # read from wrapper frames: the profile has no kernel frames

    @property
    def loopback(self) -> int:
        return sum(r.loopback for r in self.rows)


def syscall_breakdown(profile: Profile, kb: Knowledge, makers: bool = False) -> SyscallBreakdown:
    """The samples in system calls, per call; with makers, who makes each (SyscallRow.made_by:
    the reports' column; the rules do not read it)."""
    owners = attribution(profile, kb).owners
    frames = profile.frames
    categories = kb.classify(profile)
    plumbing: dict[int, bool] = {}

    def is_plumbing(f: int) -> bool:
        p = plumbing.get(f)
        if p is None:
            c, fr = categories[f], frames[f]
            p = plumbing[f] = (c is not None and c.id == WRAPPER_CATEGORY) or \
                _GO_IO_PLUMBING.fullmatch(fr.name) is not None or _C_LIBRARY.fullmatch(fr.module) is not None or \
                _C_LIBRARY_NAME.fullmatch(fr.name) is not None
        return p
    rows: dict[str, SyscallRow] = {}
    total = transitions = 0
    inferred = False
    for s, call, o in zip(profile.stacks, stack_calls(profile), owners):
        if call is None:
            continue
        inferred = inferred or call.inferred
        row = rows.get(call.name)
        if row is None:
            row = rows[call.name] = SyscallRow(call.name)
        n = s.samples
        row.total += n
        total += n
        cat = o.category.id if o.category else None
        if cat in TRANSITION_CATEGORIES:
            row.transitions += n
            transitions += n
        elif cat == LOOPBACK_CATEGORY:
            row.loopback += n
        caller = frames[call.wrapper].name if call.wrapper is not None else "[kernel thread]"
        row.wrappers[caller] = row.wrappers.get(caller, 0) + n
        if makers and call.wrapper is not None:
            maker = _made_by(s.frames, call.wrapper, is_plumbing)
            if maker is not None and frames[maker].named:
                name = frames[maker].name
                row.made_by[name] = row.made_by.get(name, 0) + n
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.name))
    return SyscallBreakdown(total, transitions, ordered, inferred)


def _made_by(fr: tuple[int, ...], wrapper: int, is_plumbing: Callable[[int], bool]) -> int | None:
    """The frame that made a stack's system call: from the wrapper's caller towards the root, the
    first that is not plumbing (a wrapper, Go's I/O packages); None when the stack has none. A frame
    without a name there (a call chain broken above libc) is returned too: the maker is unknown,
    not the next named frame further up."""
    pos = len(fr) - 1
    while pos >= 0 and fr[pos] != wrapper:
        pos -= 1
    for f in reversed(fr[:pos]):
        if not is_plumbing(f):
            return f
    return None
