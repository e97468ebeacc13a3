"""Folded-stack text of a Profile (root frame = process name, as stackcollapse-perf.pl writes it)."""

from __future__ import annotations

from diagnose.profile import Profile


def profile_folded(profile: Profile, kernel_suffix: bool = False) -> bytes:
    folded: dict[str, int] = {}
    names = [f.name + ("_[k]" if kernel_suffix and f.kind == "kernel" else "") for f in profile.frames]
    for s in profile.stacks:
        thread = profile.threads[s.thread]
        root = thread.comm.replace(" ", "_")
        parts = [root] if root else []
        parts.extend(names[f] for f in s.frames)
        key = ";".join(parts)
        folded[key] = folded.get(key, 0) + s.samples
    return "".join(f"{k} {v}\n" for k, v in sorted(folded.items(), key=lambda kv: kv[0].encode())).encode()
