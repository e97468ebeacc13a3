"""Samples of the idle task, left out of the analysis.

A system-wide recording (`perf record -a`) with a timer event (cpu-clock, what a machine without
a PMU records) samples every CPU, busy or not: a CPU with nothing to run is in the kernel's idle
task (pid 0, "swapper" or "swapper/N"), halted in its idle loop (native_safe_halt,
pv_native_safe_halt on a VM, intel_idle, ...). Those samples are not CPU use: kept, they made the
idle task the busiest thread, its halt instruction the hottest function, and every share a share
of busy and idle time together, so whether a rule fired depended on how idle the machine was.

The idle task also runs interrupts and softirqs that arrive while its CPU sleeps (network
receive, timers, RCU): that is real work, and the kernel counts it as such (irq and softirq time
in /proc/stat, not idle). So a sample of the idle task is idle unless one of its frames is
interrupt or softirq handling. `diagnose collapse` keeps every sample (its output is the
standard collapsers'); everything built on the profile (analyze, flamegraph, graph, diff) leaves
the idle ones out and says how many.
"""

from __future__ import annotations

from dataclasses import replace

from diagnose.core.patterns import compile_pattern
from diagnose.model.profile import Profile, Stack, Thread
from diagnose.model.select import renumbered

_IDLE_TASK = compile_pattern(r"swapper(/[0-9]+)?")
# Interrupt and softirq handling, entry points to leaf work: a frame like these on the idle
# task's stack is work done on the idle CPU's time, not idleness.
_INTERRUPT_WORK = compile_pattern(
    r"(asm_)?(common_interrupt|sysvec_.*|__sysvec_.*)|(__)?irq_exit(_rcu)?|(__)?do_softirq(_own_stack)?"
    r"|handle_softirqs|__irq_exit_rcu|net_rx_action|net_tx_action|tasklet_action(_common)?|rcu_core(_si)?"
    r"|run_timer_softirq|__run_timers|blk_done_softirq|handle_irq_event(_percpu)?|__handle_irq_event_percpu"
    r"|do_IRQ|irq_work_run(_list)?|flush_smp_call_function_queue|__flush_smp_call_function_queue")


def is_idle_task(thread: Thread) -> bool:
    """The kernel's idle task: pid or tid 0 named swapper (or, where the input has no ids, folded
    stacks, named swapper)."""
    if _IDLE_TASK.fullmatch(thread.comm) is None:
        return False
    return thread.pid == 0 or thread.tid == 0 or (thread.pid is None and thread.tid is None)


def without_idle(profile: Profile) -> Profile:
    """The profile without the idle task's idle samples, `capture.idle_samples` saying how many
    there were and a warning saying so; the profile itself when there are none, or when nothing
    else was sampled (a machine idle the whole recording is analysed as it is)."""
    idle_threads = {i for i, t in enumerate(profile.threads) if is_idle_task(t)}
    if not idle_threads:
        return profile
    working: dict[int, bool] = {}

    def idle(s: Stack) -> bool:
        if s.thread not in idle_threads or not s.frames:
            return False
        for f in s.frames:
            w = working.get(f)
            if w is None:
                w = working[f] = _INTERRUPT_WORK.fullmatch(profile.frames[f].name) is not None
            if w:
                return False
        return True

    drop = [idle(s) for s in profile.stacks]
    idle_samples = sum(s.samples for s, d in zip(profile.stacks, drop) if d)
    if not idle_samples or idle_samples == profile.capture.total_samples:
        return profile
    kept = [si for si, d in enumerate(drop) if not d]
    used_threads = sorted({profile.stacks[si].thread for si in kept})
    frames, stacks, _ = renumbered(profile, kept, {old: new for new, old in enumerate(used_threads)})
    cap = profile.capture
    busy = cap.total_samples - idle_samples
    new_cap = replace(cap, total_samples=busy, idle_samples=idle_samples, warnings=list(cap.warnings))
    new_cap.warnings.append(
        f"{idle_samples:,} of the {cap.total_samples:,} samples are the idle task (swapper: a CPU with nothing "
        f"to run) and are left out: shares and cores are of the other {busy:,} (interrupts and softirqs the "
        f"idle task ran stay in)")
    return Profile(frames, [profile.threads[i] for i in used_threads], stacks, new_cap)
