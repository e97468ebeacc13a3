"""A profile's samples counted by folded line (root frame = process name, as stackcollapse-perf.pl
writes it): what the folded output writes, and what reading py-spy's folded text and collapsing
a selection return."""

from __future__ import annotations

from diagnose.model.profile import Profile


def profile_counts(profile: Profile, kernel_suffix: bool = False) -> dict[bytes, int]:
    """Folded line (without its count) -> samples."""
    folded: dict[bytes, int] = {}
    names = [f.name + ("_[k]" if kernel_suffix and f.kind == "kernel" else "") for f in profile.frames]
    for s in profile.stacks:
        thread = profile.threads[s.thread]
        root = thread.comm.replace(" ", "_")
        parts = [root] if root else []
        parts.extend(names[f] for f in s.frames)
        key = ";".join(parts).encode()
        folded[key] = folded.get(key, 0) + s.samples
    return folded
