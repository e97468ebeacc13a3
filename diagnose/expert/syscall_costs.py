"""What the counted system calls cost (environment["syscalls"], diagnose.capture.syscall_counts): the CPU
each call takes, from the profile (the samples inside the call / the sampling frequency / how many
calls were made), and the part of it that is only entering and leaving the kernel (entry/exit
frames, diagnose.expert.syscalls); the view the rules read; the `measurements.syscalls` block of the
JSON report; and the saving a batching recommendation promises.

Rules read, through `env:` conditions (rates per second, times in µs of CPU per call; a call or
a group nobody made is absent, so a condition on it is unknown):

    syscalls.total_per_s
    syscalls.calls.NAME.calls_per_s | cpu_us_per_call | entry_exit_us_per_call
    syscalls.socket_receive.calls_per_s | cpu_us_per_call | entry_exit_us_per_call | names
    syscalls.socket_send.calls_per_s | ...        (recvfrom/recvmsg/recvmmsg; sendto/sendmsg/sendmmsg)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagnose.expert.attribution import attribution
from diagnose.expert.syscalls import RECV_CALLS, SEND_CALLS, stack_calls, syscall_breakdown
from diagnose.model.profile import Profile
from diagnose.model.stats import wilson

if TYPE_CHECKING:
    from diagnose.expert.knowledge import Knowledge

# Where `diagnose run` stores the counts (diagnose.capture.syscall_counts) in the capture and the
# JSON report's measurements.
KEY = "syscalls"
# The kernel counting the calls for perf stat (knowledge/taxonomy.yaml): the measurement's own
# cost, left out of what a call costs the program.
COUNTING_CATEGORY = "tracing-counters"
FAMILIES = {"socket_receive": ("recvfrom", "recvmsg", "recvmmsg"), "socket_send": ("sendto", "sendmsg", "sendmmsg")}
TOP_THREADS = 5


# -- the stored counts, checked ---------------------------------------------------------------

def _int(x: Any) -> bool:
    """A count: a whole number perf could have written (a 64-bit counter)."""
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2 ** 64


def _num(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an integer of hundreds of digits
        return False


def _rate(x: Any) -> bool:
    return x is None or (_num(x) and x >= 0)


def shape_problem(stored: Any) -> str | None:
    """What is wrong with the types of environment["syscalls"], or None (capture_read calls it:
    a folder is trusted in nothing)."""
    if not isinstance(stored, dict):
        return f"{KEY} is not a mapping"
    for key in ("skipped", "unavailable"):
        if key in stored and not isinstance(stored[key], str):
            return f"{KEY}.{key} is not a text"
    if "calls" not in stored:
        return None
    calls = stored["calls"]
    if not isinstance(calls, dict) or not all(
            isinstance(v, dict) and _int(v.get("calls")) and _rate(v.get("calls_per_s")) for v in calls.values()):
        return f"{KEY}.calls is not a mapping of {{calls, calls_per_s}}"
    if not _int(stored.get("total")) or not _rate(stored.get("total_per_s")):
        return f"{KEY}.total is not a count"
    if not (_num(stored.get("window_s")) and stored["window_s"] > 0):
        return f"{KEY}.window_s is not a positive number of seconds"
    other = stored.get("other")
    if other is not None and not (isinstance(other, dict) and _int(other.get("calls"))):
        return f"{KEY}.other is not {{calls, calls_per_s}}"
    threads = stored.get("threads", [])
    if not isinstance(threads, list) or not all(
            isinstance(t, dict) and _int(t.get("tid")) and _int(t.get("calls")) and isinstance(t.get("comm", ""), str)
            and (t.get("pid") is None or _int(t["pid"])) and isinstance(t.get("by_call", {}), dict)
            and all(_int(n) for n in t.get("by_call", {}).values()) for t in threads):
        return f"{KEY}.threads is not a list of {{pid, tid, comm, calls, by_call}}"
    for key in ("named", "notes"):
        value = stored.get(key, [])
        if not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            return f"{KEY}.{key} is not a list of texts"
    return None


def counted(env: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored counts, when the capture has them."""
    stored = (env or {}).get(KEY)
    if isinstance(stored, dict) and "calls" in stored and shape_problem(stored) is None:
        return stored
    return None


# -- what each call costs ---------------------------------------------------------------------

@dataclass(frozen=True)
class CallCost:
    name: str
    calls: int
    calls_per_s: float | None
    samples: int                        # profile samples inside the call, the counting's own left out
    transitions: int                    # of which entering and leaving the kernel
    cpu_us_per_call: float | None
    cpu_us_ci95: tuple[float, float] | None
    entry_exit_us_per_call: float | None
    entry_exit_ci95: tuple[float, float] | None
    counting: int = 0                   # samples of the counting itself inside the call

    @property
    def direction(self) -> str:
        return "send" if self.name in SEND_CALLS else "receive" if self.name in RECV_CALLS else "other"


@dataclass(frozen=True)
class Costs:
    stored: dict[str, Any]
    calls: list[CallCost]               # by calls made, most first
    inferred: bool                      # the profile has no kernel frames: entry/exit cannot be seen

    @property
    def window_s(self) -> float:
        return float(self.stored["window_s"])

    def by_name(self) -> dict[str, CallCost]:
        return {c.name: c for c in self.calls}


def _us(samples: float, calls_per_s: float | None, per_sample_s: float | None) -> float | None:
    """µs of CPU per call: the CPU the call used per second of recording over the calls per second."""
    if not calls_per_s or per_sample_s is None:
        return None
    return samples * per_sample_s / calls_per_s * 1e6


def costs(profile: Profile, kb: Knowledge, env: dict[str, Any] | None) -> Costs | None:
    stored = counted(env)
    if stored is None:
        return None
    cap = profile.capture
    n = profile.stack_samples
    # One sample is 1 / frequency seconds of CPU; spread over the recording, per second of it.
    per_sample_s = 1.0 / (cap.frequency_hz * cap.duration_s) if cap.frequency_hz and cap.duration_s else None
    sb = syscall_breakdown(profile, kb)
    rows = {r.name: r for r in sb.rows}
    counting = _counting_samples(profile, kb)

    def interval(k: int, rate: float | None) -> tuple[float, float] | None:
        if per_sample_s is None or not rate or not n:
            return None
        lo, hi = wilson(k, n)
        return (_us(lo * n, rate, per_sample_s) or 0.0, _us(hi * n, rate, per_sample_s) or 0.0)

    out = []
    for name, v in stored["calls"].items():
        if not v["calls"]:
            continue
        row = rows.get(name)
        own = counting.get(name, 0)
        k = row.total - own if row is not None else 0
        t = row.transitions if row is not None else 0
        rate = v.get("calls_per_s")
        # No sample inside the call: below what the sampling can see (its interval says how far).
        out.append(CallCost(
            name, v["calls"], rate, k, t, _us(k, rate, per_sample_s) if k else None, interval(k, rate),
            None if sb.inferred or not k else _us(t, rate, per_sample_s), None if sb.inferred else interval(t, rate),
            own))
    out.sort(key=lambda c: (-c.calls, c.name))
    return Costs(stored, out, sb.inferred)


def _counting_samples(profile: Profile, kb: Knowledge) -> dict[str, int]:
    """Per system call, the samples the counting itself owns (perf_syscall_enter and below)."""
    out: dict[str, int] = {}
    owners = attribution(profile, kb).owners
    for s, call, o in zip(profile.stacks, stack_calls(profile), owners):
        if call is not None and o.category is not None and o.category.id == COUNTING_CATEGORY:
            out[call.name] = out.get(call.name, 0) + s.samples
    return out


# -- what the rules read ----------------------------------------------------------------------

def _round(x: float | None, digits: int = 3) -> float | None:
    """Three significant digits: what a rule's {value:num} shows."""
    if x is None:
        return None
    return float(f"{x:.{digits}g}")


def with_costs(env: dict[str, Any], profile: Profile, kb: Knowledge) -> dict[str, Any]:
    """The environment the rules read, its counted system calls completed with what they cost."""
    c = costs(profile, kb, env)
    if c is None:
        return env
    view = dict(env)
    stored = view[KEY] = copy.deepcopy(c.stored)
    for cc in c.calls:
        stored["calls"][cc.name].update({
            "cpu_us_per_call": _round(cc.cpu_us_per_call), "entry_exit_us_per_call": _round(cc.entry_exit_us_per_call),
            "entry_exit_us_per_call_ci95": list(cc.entry_exit_ci95) if cc.entry_exit_ci95 else None})
    by = c.by_name()
    for family, names in FAMILIES.items():
        made = [by[m] for m in names if m in by and by[m].calls_per_s]
        if not made:
            continue
        rate = sum(m.calls_per_s or 0.0 for m in made)
        samples = sum(m.samples for m in made)
        trans = sum(m.transitions for m in made)
        cap = profile.capture
        per_sample_s = 1.0 / (cap.frequency_hz * cap.duration_s) if cap.frequency_hz and cap.duration_s else None
        stored[family] = {"calls_per_s": round(rate, 3), "names": ", ".join(m.name for m in made),
                          "cpu_us_per_call": _round(_us(samples, rate, per_sample_s)),
                          "entry_exit_us_per_call": None if c.inferred else _round(_us(trans, rate, per_sample_s))}
    return view


# -- the JSON report --------------------------------------------------------------------------

def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def report_block(profile: Profile, kb: Knowledge | None, env: dict[str, Any] | None) -> dict[str, Any] | None:
    """measurements.syscalls of the JSON report, or None when the capture has no counts."""
    c = costs(profile, kb, env) if kb is not None else None
    if c is None:
        return None
    s = c.stored
    threads_of: dict[str, list[dict[str, Any]]] = {}
    for t in s.get("threads", []):
        for name, k in t.get("by_call", {}).items():
            threads_of.setdefault(name, []).append({"pid": t.get("pid"), "tid": t["tid"], "comm": t.get("comm", ""),
                                                    "calls": k, "calls_per_s": _r(k / c.window_s, 3)})
    return {
        "method": s.get("method"), "window_s": s["window_s"], "named": s.get("named", []),
        "total_calls": s["total"], "total_calls_per_s": s.get("total_per_s"),
        "other": s.get("other"), "notes": s.get("notes", []),
        "cpu_per_call_from": "profile samples inside the call (less the counting's own, counting_samples) / "
                             "sampling frequency / calls counted",
        "entry_exit_known": not c.inferred,
        "calls": [{"name": cc.name, "direction": cc.direction, "calls": cc.calls, "calls_per_s": cc.calls_per_s,
                   "samples": cc.samples, "counting_samples": cc.counting, "cpu_us_per_call": _r(cc.cpu_us_per_call),
                   "cpu_us_per_call_ci95": [_r(x) for x in cc.cpu_us_ci95] if cc.cpu_us_ci95 else None,
                   "entry_exit_samples": cc.transitions, "entry_exit_us_per_call": _r(cc.entry_exit_us_per_call),
                   "entry_exit_us_per_call_ci95": [_r(x) for x in cc.entry_exit_ci95] if cc.entry_exit_ci95 else None,
                   "threads": sorted(threads_of.get(cc.name, []), key=lambda t: -t["calls"])[:TOP_THREADS]}
                  for cc in c.calls],
        "threads": [{k: t.get(k) for k in ("pid", "tid", "comm", "calls", "calls_per_s")} for t in s.get("threads", [])],
    }


# -- what batching would save -----------------------------------------------------------------

ESTIMATE = {
    "en": "{into} with {per_call} messages per call would cut about {cut} of the {rate} calls/s ({names}), about "
          "{cores} cores (95%: {lo}–{hi})",
    "zh": "使用 {into} 每次调用处理 {per_call} 条消息，可以减少每秒 {rate} 次调用（{names}）中的约 {cut} 次，约 {cores} 个核"
          "（95%：{lo}–{hi}）",
}
ASSUMPTION = {
    "en": "each call now moves one datagram, and batching saves only entering and leaving the kernel: {us} µs of "
          "CPU per call as the profile measured it (entry/exit frames); the work per datagram stays",
    "zh": "目前每次调用只搬运一个数据报，且批量只省下进出内核的开销：剖析测得的每次调用 {us} 微秒 CPU（入口/出口帧）；"
          "每个数据报本身的处理开销不变",
}


def batching_estimate(env: dict[str, Any], calls: tuple[str, ...], into: str, per_call: int) -> dict[str, Any] | None:
    """What `into` with `per_call` messages per call would save of the counted `calls` (the rules'
    environment view, with_costs), or None when they were not counted or their entry/exit cost
    is not known."""
    stored = env.get(KEY) if isinstance(env, dict) else None
    if not isinstance(stored, dict) or not isinstance(stored.get("calls"), dict):
        return None
    made = [(name, v) for name in calls if isinstance(v := stored["calls"].get(name), dict)
            and v.get("calls_per_s") and v.get("entry_exit_us_per_call") is not None]
    if not made:
        return None
    keep = 1.0 - 1.0 / per_call
    rate = sum(v["calls_per_s"] for _, v in made)
    cut = rate * keep
    saved_us = sum(v["calls_per_s"] * keep * v["entry_exit_us_per_call"] for _, v in made)
    us = saved_us / cut if cut else 0.0
    # Rounded as the JSON holds them, so that the texts say the JSON's figures (a figure rounded
    # twice, to 4 places and then to 3, can differ from one rounded once: 0.026 against 0.025).
    cores = round(saved_us / 1e6, 4)
    # The interval of the entry/exit time, scaled the same way (it is a share of samples).
    lo_hi = _interval(made, keep)
    if lo_hi:
        lo_hi = (round(lo_hi[0], 4), round(lo_hi[1], 4))
    names = ", ".join(name for name, _ in made)
    values = {"into": into, "per_call": per_call, "cut": f"{cut:,.0f}", "rate": f"{rate:,.0f}", "names": names,
              "cores": f"{cores:.3f}", "lo": f"{lo_hi[0]:.3f}" if lo_hi else "?", "hi": f"{lo_hi[1]:.3f}" if lo_hi else "?",
              "us": f"{us:.2f}"}
    texts = {lang: {"estimate": ESTIMATE[lang].format(**values), "assumption": ASSUMPTION[lang].format(**values)}
             for lang in ESTIMATE}
    return {"into": into, "per_call": per_call, "calls": [name for name, _ in made], "calls_per_s": round(rate, 1),
            "calls_per_s_saved": round(cut, 1), "entry_exit_us_per_call": round(us, 3), "cores_saved": round(cores, 4),
            "cores_saved_ci95": [round(x, 4) for x in lo_hi] if lo_hi else None,
            "text": texts["en"]["estimate"], "assumption": texts["en"]["assumption"], "texts": texts}


def _interval(made: list[tuple[str, dict[str, Any]]], keep: float) -> tuple[float, float] | None:
    bounds = [v.get("entry_exit_us_per_call_ci95") for _, v in made]
    if any(not (isinstance(b, (list, tuple)) and len(b) == 2) for b in bounds):
        return None
    lo = sum(v["calls_per_s"] * keep * b[0] for (_, v), b in zip(made, bounds)) / 1e6  # type: ignore[index]
    hi = sum(v["calls_per_s"] * keep * b[1] for (_, v), b in zip(made, bounds)) / 1e6  # type: ignore[index]
    return (lo, hi)
