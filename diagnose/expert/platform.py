"""What a capture shows of the software it profiled: which WebRTC stacks run (Pion, Janus,
libwebrtc, GStreamer, ...) and signals of what is already in effect (AES-GCM or AES-NI running,
an NSS-backed libsrtp, batched socket calls, datagrams dropped). Both are data in
knowledge/stacks.yaml; recommendations are offered, withheld or phrased by them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from collections.abc import Iterable
from typing import Any

from diagnose.expert.facts import as_number, env_lookup
from diagnose.expert.knowledge import Knowledge, Marker
from diagnose.expert.rule_environment import process_view
from diagnose.core.patterns import OwnedPatterns, compile_pattern
from diagnose.model.profile import Profile
from diagnose.expert.syscalls import stack_calls
from diagnose.core.texts import LANGS


# What showed a stack or signal, per language.
SEEN_FRAMES = {"en": "{name} and related frames in {pct} of samples", "zh": "{name} 及相关帧出现在 {pct} 的采样中"}
SEEN_NAMES = {"en": "threads or processes named like it ({pct} of samples)", "zh": "名称与之相符的线程或进程（占 {pct} 的采样）"}
SEEN_CALL = {"en": "{call}() in {n} samples", "zh": "{call}() 出现在 {n} 个采样中"}


@dataclass(frozen=True)
class Seen:
    """A stack or signal the capture shows, the samples behind it and what showed it (per
    language)."""

    id: str
    samples: int
    share: float
    why_texts: dict[str, str]

    @property
    def why(self) -> str:
        return self.why_texts["en"]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "samples": self.samples, "share": round(self.share, 6), "why": self.why,
                "texts": {lang: {"why": w} for lang, w in self.why_texts.items()}}


@dataclass
class Platform:
    stacks: list[Seen]        # largest first
    signals: dict[str, Seen]

    @property
    def primary(self) -> str | None:
        return self.stacks[0].id if self.stacks else None

    def has(self, marker: str) -> bool:
        return marker in self.signals or any(s.id == marker for s in self.stacks)

    def stack_ids(self) -> list[str]:
        return [s.id for s in self.stacks]

    def to_dict(self) -> dict[str, Any]:
        return {"stacks": [s.to_dict() for s in self.stacks],
                "signals": [s.to_dict() for s in self.signals.values()]}


def detect(profile: Profile, kb: Knowledge, env: dict[str, Any]) -> Platform:
    markers = kb.stacks + kb.signals
    n = profile.stack_samples
    frame_hits = _frame_hits(profile, markers)
    thread_hits = _thread_hits(profile, markers, env)
    hit = frozenset(f for f, bits in enumerate(frame_hits) if bits)
    by_bits: dict[int, int] = {}  # the markers a stack shows (one bit each) -> samples
    for s in profile.stacks:
        if not s.frames:
            continue
        bits = thread_hits[s.thread]
        if not hit.isdisjoint(s.frames):
            bits |= reduce(or_, map(frame_hits.__getitem__, hit.intersection(s.frames)))
        if bits:
            by_bits[bits] = by_bits.get(bits, 0) + s.samples
    per_marker = [sum(k for bits, k in by_bits.items() if bits >> i & 1) for i in range(len(markers))]
    names = {i: _first_frame_name(profile, frame_hits, i) for i, k in enumerate(per_marker) if k}
    calls: dict[str, int] = {}
    for s, call in zip(profile.stacks, stack_calls(profile)):
        if call is not None:
            calls[call.name] = calls.get(call.name, 0) + s.samples
    stacks: list[Seen] = []
    signals: dict[str, Seen] = {}
    for i, m in enumerate(markers):
        seen = _judge(m, per_marker[i], names.get(i), n, calls, env)
        if seen is None:
            continue
        if i < len(kb.stacks):
            stacks.append(seen)
        else:
            signals[m.id] = seen
    stacks.sort(key=lambda s: (-s.samples, s.id))
    return Platform(stacks, signals)


def _judge(m: Marker, k: int, name: str | None, n: int, calls: dict[str, int], env: dict[str, Any]) -> Seen | None:
    share = k / n if n else 0.0
    if k >= m.min_samples and share >= m.min_share and k:
        why = _each_lang(SEEN_FRAMES if name else SEEN_NAMES, name=name, pct=f"{100 * share:.1f}%")
        return Seen(m.id, k, share, why)
    for c in m.calls:
        if calls.get(c, 0) >= m.min_samples:
            return Seen(m.id, calls[c], calls[c] / n if n else 0.0, _each_lang(SEEN_CALL, call=c, n=calls[c]))
    for key, op, number in m.env:
        value = as_number(env_lookup(env, key))
        if value is not None and _compare(value, op, number):
            return Seen(m.id, 0, 0.0, {lang: f"{key} = {value:g}" for lang in LANGS})
    return None


def _each_lang(template: dict[str, str], **values: Any) -> dict[str, str]:
    return {lang: template[lang].format(**values) for lang in LANGS}


def _compare(a: float, op: str, b: float) -> bool:
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b, "eq": a == b, "ne": a != b}[op]


# The last markers' patterns: (the markers, their symbol patterns, their module patterns). A run
# evaluates the same knowledge base's markers once per process evaluated alone.
_last_patterns: tuple[list[Marker], OwnedPatterns, OwnedPatterns] | None = None


def _marker_patterns(markers: list[Marker]) -> tuple[OwnedPatterns, OwnedPatterns]:
    global _last_patterns
    last = _last_patterns
    if last is None or not _same(last[0], markers):
        last = (list(markers), OwnedPatterns((i, m.symbols) for i, m in enumerate(markers)),
                OwnedPatterns((i, m.modules) for i, m in enumerate(markers)))
        _last_patterns = last
    return last[1], last[2]


def _frame_hits(profile: Profile, markers: list[Marker]) -> list[int]:
    """Per frame: one bit per marker whose symbol or module patterns match it (a selection's
    frames: their bits in the profile it was taken from, when those were computed)."""
    origin = profile.origin
    parent = getattr(origin.parent, "_marker_hits", None) if origin is not None else None
    if origin is not None and parent is not None and _same(parent[0], markers):
        of_parent = parent[1]
        out = [of_parent[f] for f in origin.frames]
    else:
        syms, mods = _marker_patterns(markers)
        out = []
        for f in profile.frames:
            base = f.module_base
            owners = syms.owners(f.name) + (mods.owners(base) if base else [])
            out.append(reduce(or_, (1 << i for i in owners), 0))
    profile._marker_hits = (list(markers), out)  # type: ignore[attr-defined]
    return out


def _same(a: list[Marker], b: list[Marker]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _thread_hits(profile: Profile, markers: list[Marker], env: dict[str, Any]) -> list[int]:
    programs = profile.program_names()
    # What a process is called: its program name, and the file names of its first two command-line
    # words (an interpreter and its script: "python3 aiortc_peer.py").
    names: dict[int, list[str]] = {}
    for pid, name in programs.items():
        names[pid] = [name]
    for p in env.get("processes") or []:
        if isinstance(p, dict) and isinstance(p.get("pid"), int):
            words = [str(w).rsplit("/", 1)[-1] for w in (p.get("cmdline") or [])[:2]]
            names.setdefault(p["pid"], []).extend(w for w in words if w)
    compiled = [([compile_pattern(p) for p in m.threads], [compile_pattern(p) for p in m.processes]) for m in markers]
    out = []
    for t in profile.threads:
        # Without a pid (perf's default output) a thread is taken as its own process, as selectors do.
        known = names.get(t.pid, []) if t.pid is not None else [t.comm]
        bits = 0
        for i, (threads, processes) in enumerate(compiled):
            if any(p.fullmatch(t.comm) for p in threads) or any(p.fullmatch(n) for p in processes for n in known):
                bits |= 1 << i
        out.append(bits)
    return out


def _first_frame_name(profile: Profile, frame_hits: list[int], marker: int) -> str | None:
    """The hottest (inclusive) frame that showed a marker, to say why it was seen."""
    inc = profile.inclusive_counts()
    best = max((f for f, bits in enumerate(frame_hits) if bits and bits >> marker & 1), key=lambda f: inc[f],
               default=None)
    if best is None or not inc[best]:
        return None
    f = profile.frames[best]
    return f.name if f.name != "[unknown]" else f.module_base or None


class FindingPlatforms:
    """The platform a finding's recommendations are judged on: the capture's, with its
    per_process signals judged on the process with most of the finding's samples when the
    capture holds several (a busy encoder thread of a publisher recorded beside Janus says
    nothing of Janus's threads). One per evaluation; a process's platform is made once."""

    def __init__(self, platform: Platform, kb: Knowledge, env: dict[str, Any], profile: Profile) -> None:
        self.platform, self.kb, self.env, self.profile = platform, kb, env, profile
        self.markers = {m.id: m for m in kb.signals if m.per_process}
        self._of_pid: dict[int, Platform] = {}

    def scoped(self, marker_ids: Iterable[str]) -> bool:
        return any(m in self.markers for m in marker_ids)

    def of(self, rec_ids: Iterable[str], processes: list[dict[str, Any]]) -> Platform:
        """processes: the finding's, most samples first (finding_processes.processes_of)."""
        if not processes or not self.markers:
            return self.platform
        recs = self.kb.recommendations
        if not any(self.scoped((*recs[r].requires, *recs[r].unless, *recs[r].not_if)) for r in rec_ids):
            return self.platform
        pid = processes[0]["pid"]
        if pid not in self._of_pid:
            self._of_pid[pid] = rejudged(self.platform, list(self.markers.values()),
                                         process_view(self.env, self.profile, pid))
        return self._of_pid[pid]


def rejudged(platform: Platform, markers: list[Marker], env: dict[str, Any]) -> Platform:
    """`platform` with the environment-only `markers` judged again on `env` (a process's view of
    the environment, see rule_environment.process_view)."""
    signals = dict(platform.signals)
    for m in markers:
        seen = _judge(m, 0, None, 0, {}, env)
        if seen is None:
            signals.pop(m.id, None)
        else:
            signals[m.id] = seen
    return Platform(platform.stacks, signals)
