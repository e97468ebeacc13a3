"""The recorded environment as the rules read it (diagnose run's environment.json completed with
what the perf header says), the command lines it holds, and a finding's subject made precise by
them."""

from __future__ import annotations

from typing import Any

from diagnose.expert.socket_buffers import with_receive_buffer
from diagnose.model.profile import Profile, cores_used


def environment_view(profile: Profile) -> dict[str, Any]:
    """The recorded environment, completed with what the perf header says."""
    cap = profile.capture
    env: dict[str, Any] = {k: v for k, v in (cap.environment or {}).items()}
    cpu = dict(env.get("cpu") or {})
    cpu.setdefault("count", cap.cpus_online)
    cpu.setdefault("model", cap.cpu_model)
    env["cpu"] = cpu
    kernel = dict(env.get("kernel") or {})
    kernel.setdefault("release", cap.os_release)
    env["kernel"] = kernel
    env.setdefault("perf", {"command": cap.command})
    # Facts of the samples stand in for /proc's only where a run folder did not measure threads.
    threads = env.get("threads")
    measured = isinstance(threads, dict) and isinstance(threads.get("busiest"), dict)
    env["samples"] = {"busiest_thread_cores": None} if measured else sample_facts(profile)
    pids = {t.pid for t in profile.threads}
    if measured and len(pids) == 1 and None not in pids and \
            any(isinstance(r, dict) and r.get("pid") not in pids for r in threads.get("threads") or []):
        # One process of a run of several (evaluated alone, or picked with --pid): its threads.
        env = process_view(env, profile, next(iter(pids)))
    return with_receive_buffer(env)  # the socket that dropped, and the sysctl that sizes its buffer


def sample_facts(profile: Profile, pid: int | None = None) -> dict[str, Any]:
    """What the samples themselves say of the load, for rules and signals that a run folder's
    /proc measurements (threads.*) would say better but a bare capture lacks:
    busiest_thread_cores, the cores of the thread with the most samples (of process `pid`'s
    threads only, when given; None without the sampling frequency and the duration)."""
    per: dict[int, int] = {}
    threads = profile.threads
    for s in profile.stacks:
        if pid is None or threads[s.thread].pid == pid:
            per[s.thread] = per.get(s.thread, 0) + s.samples
    cap = profile.capture
    return {"busiest_thread_cores": cores_used(max(per.values(), default=0), cap.frequency_hz, cap.duration_s)}


def process_view(env: dict[str, Any], profile: Profile, pid: int) -> dict[str, Any]:
    """The environment view with its thread facts narrowed to process `pid`: /proc's busiest
    thread (threads.busiest) among that process's listed threads, or the samples' busiest thread
    of that process. What per_process signals are judged on for a finding of that process."""
    out = dict(env)
    threads = env.get("threads")
    rows = []
    if isinstance(threads, dict) and isinstance(threads.get("busiest"), dict):
        rows = [r for r in threads.get("threads") or [] if isinstance(r, dict) and r.get("pid") == pid]
        out["threads"] = {**threads, "threads": rows, "busiest": rows[0] if rows else None}
    if not rows:  # not measured, or none of its threads among those /proc's reading lists
        out["samples"] = sample_facts(profile, pid)
    return out


def command_lines(env: dict[str, Any], profile: Profile) -> list[str]:
    out = []
    for p in env.get("processes") or []:
        cmd = p.get("cmdline")
        if cmd:
            out.append(" ".join(cmd) if isinstance(cmd, list) else str(cmd))
    if profile.capture.command:
        out.append(profile.capture.command)
    return out


def refine_subject(subject: str | None, env: dict[str, Any], profile: Profile) -> str | None:
    """Stripped libvpx cannot tell VP8 from VP9; the recorded command lines can
    (ffmpeg -c:v libvpx is VP8, libvpx-vp9 is VP9; GStreamer vp8enc/vp9enc)."""
    if subject != "vp8/vp9":
        return subject
    text = " ".join(command_lines(env, profile)).lower()
    vp9 = any(k in text for k in ("libvpx-vp9", "vp9enc", "vp9dec", " vp9", "=vp9", "vp09"))
    vp8 = any(k in text for k in ("libvpx ", "libvpx\n", "vp8enc", "vp8dec", " vp8", "=vp8")) or text.endswith("libvpx")
    if vp9 and not vp8:
        return "vp9"
    if vp8 and not vp9:
        return "vp8"
    return subject
