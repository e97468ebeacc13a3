"""A profile as speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json):
one sampled profile per thread, each stack once with its number of samples as weight (unit
"none": the weights are sample counts), frames shared, named with their module as `file`."""

from __future__ import annotations

import json

from diagnose import __version__
from diagnose.model.profile import Profile

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"


def _thread_name(comm: str, pid: int | None, tid: int | None) -> str:
    ids = "/".join(str(x) for x in (pid, tid) if x is not None)
    return f"{comm or 'thread'} ({ids})" if ids else (comm or "all samples")


def speedscope_document(profile: Profile) -> dict:  # type: ignore[type-arg]
    frames = [{"name": f.name, **({"file": f.module} if f.module else {})} for f in profile.frames]
    by_thread: dict[int, list[tuple[list[int], int]]] = {}
    for st in profile.stacks:
        if st.samples > 0 and st.frames:
            by_thread.setdefault(st.thread, []).append((list(st.frames), st.samples))
    profiles = []
    for t in sorted(by_thread, key=lambda t: -sum(n for _, n in by_thread[t])):
        th = profile.threads[t]
        stacks = by_thread[t]
        total = sum(n for _, n in stacks)
        profiles.append({"type": "sampled", "name": _thread_name(th.comm, th.pid, th.tid), "unit": "none",
                         "startValue": 0, "endValue": total,
                         "samples": [fr for fr, _ in stacks], "weights": [n for _, n in stacks]})
    cap = profile.capture
    return {"$schema": SCHEMA_URL, "shared": {"frames": frames}, "profiles": profiles,
            "name": f"{cap.source} ({cap.total_samples} samples)", "activeProfileIndex": 0,
            "exporter": f"diagnose {__version__}"}


def render_speedscope(profile: Profile) -> str:
    return json.dumps(speedscope_document(profile), ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
