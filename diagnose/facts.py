"""Measurements that rules may use, computed exactly from the stacks of a profile.

Every frame selector a rule set uses gets one bit. Each frame gets the bits of the selectors it
matches, each stack the union of its frames' bits; stacks are then summed per (thread, bits), so
that a share is a sum over a few distinct masks instead of a walk over every stack. Each sample
is counted once per measurement, however many matching frames its stack holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from diagnose.knowledge import Knowledge
from diagnose.patterns import PatternSet
from diagnose.profile import Profile, cores_used
from diagnose.rules import Selector


@dataclass(frozen=True)
class Measured:
    """A measured value, the samples behind it (for intervals) and per-thread samples."""

    value: float | str | None
    samples: int | float | None = None
    by_thread: dict[int, float] | None = None
    subject: str | None = None
    note: str | None = None


class Measurements:
    def __init__(self, profile: Profile, kb: Knowledge, selectors: Iterable[Selector]) -> None:
        self.profile = profile
        self.kb = kb
        self.n = profile.stack_samples
        self.categories = kb.classify(profile)
        sels = list(dict.fromkeys(selectors))
        for s in list(sels):
            for a in s.alternatives:
                if a not in sels:
                    sels.append(a)
        # Each category of a component can be asked for separately (top_category).
        self.bit: dict[Selector, int] = {s: 1 << i for i, s in enumerate(sels)}
        self.frame_bits = self._frame_bits(sels)
        self.thread_bits = self._thread_bits(sels)
        self._aggregate()

    # -- setup ---------------------------------------------------------------------------

    def _frame_bits(self, sels: list[Selector]) -> list[int]:
        all_bits = reduce(or_, self.bit.values(), 0)
        cat_bits: dict[str, int] = {}
        comp_bits: dict[str, int] = {}
        kind_bits = {"kernel": 0, "user": 0}
        free = {"cat": 0, "comp": 0, "sym": 0, "mod": 0, "kind": 0}
        sym_patterns: list[str] = []
        sym_bits: list[int] = []
        mod_patterns: list[str] = []
        mod_bits: list[int] = []
        unions = [s for s in sels if s.alternatives]
        for s in sels:
            b = self.bit[s]
            if s.alternatives:
                continue  # set below from its alternatives
            if s.category:
                for c in s.category:
                    cat_bits[c] = cat_bits.get(c, 0) | b
            else:
                free["cat"] |= b
            if s.component:
                for c in s.component:
                    comp_bits[c] = comp_bits.get(c, 0) | b
            else:
                free["comp"] |= b
            if s.symbol is not None:
                sym_patterns.append(s.symbol)
                sym_bits.append(b)
            else:
                free["sym"] |= b
            if s.module is not None:
                mod_patterns.append(s.module)
                mod_bits.append(b)
            else:
                free["mod"] |= b
            if s.kind is not None:
                kind_bits[s.kind] |= b
            else:
                free["kind"] |= b
        syms, mods = PatternSet(sym_patterns), PatternSet(mod_patterns)
        out = []
        for f, cat in zip(self.profile.frames, self.categories):
            bits = all_bits
            bits &= free["cat"] | (cat_bits.get(cat.id, 0) if cat else 0)
            comp = self.kb.component_of(f, cat)
            bits &= free["comp"] | comp_bits.get(comp, 0)
            if sym_patterns:
                bits &= free["sym"] | reduce(or_, (sym_bits[i] for i in syms.match(f.name)), 0)
            if mod_patterns:
                base = f.module.rsplit("/", 1)[-1]
                bits &= free["mod"] | reduce(or_, (mod_bits[i] for i in mods.match(base)), 0) if base else free["mod"]
            bits &= free["kind"] | kind_bits[f.kind]
            for u in unions:
                if any(bits & self.bit[a] for a in u.alternatives):
                    bits |= self.bit[u]
            out.append(bits)
        return out

    def _process_names(self) -> dict[int, str]:
        """pid -> process name: as recorded in the environment, else the main thread's name
        (tid == pid) when it was sampled. A process with neither has no known name."""
        names: dict[int, str] = {}
        for t in self.profile.threads:
            if t.pid is not None and t.tid == t.pid:
                names[t.pid] = t.comm
        for p in (self.profile.capture.environment or {}).get("processes") or []:
            if isinstance(p, dict) and isinstance(p.get("pid"), int) and p.get("comm"):
                names[p["pid"]] = str(p["comm"])
        return names

    def _thread_bits(self, sels: list[Selector]) -> list[int]:
        proc_name = self._process_names()
        out = []
        compiled: dict[str, re.Pattern[str] | Any] = {}
        from diagnose.patterns import compile_pattern

        for t in self.profile.threads:
            bits = 0
            # Without a pid (perf's default output) a thread is taken as its own process.
            process = proc_name.get(t.pid) if t.pid is not None else t.comm
            for s in sels:
                ok = True
                if s.thread is not None:
                    p = compiled.setdefault(s.thread, compile_pattern(s.thread))
                    ok = p.fullmatch(t.comm) is not None
                if ok and s.process is not None:
                    p = compiled.setdefault(s.process, compile_pattern(s.process))
                    ok = process is not None and p.fullmatch(process) is not None
                if ok:
                    bits |= self.bit[s]
            out.append(bits)
        return out

    def _aggregate(self) -> None:
        fb, tb = self.frame_bits, self.thread_bits
        inc: dict[tuple[int, int], int] = {}
        leaf: dict[tuple[int, int], int] = {}
        self.stack_bits: list[int] = []
        for s in self.profile.stacks:
            if not s.frames:
                self.stack_bits.append(0)
                continue
            t = tb[s.thread]
            m = reduce(or_, map(fb.__getitem__, s.frames)) & t
            self.stack_bits.append(m)
            k = (s.thread, m)
            inc[k] = inc.get(k, 0) + s.samples
            k2 = (s.thread, fb[s.frames[-1]] & t)
            leaf[k2] = leaf.get(k2, 0) + s.samples
        self._inc, self._leaf = inc, leaf

    # -- measures --------------------------------------------------------------------------

    def _sum(self, table: dict[tuple[int, int], int], bit: int) -> tuple[int, dict[int, float]]:
        total = 0
        by_thread: dict[int, float] = {}
        for (thread, mask), n in table.items():
            if mask & bit:
                total += n
                by_thread[thread] = by_thread.get(thread, 0) + n
        return total, by_thread

    def share(self, k: float) -> float:
        return k / self.n if self.n else 0.0

    def inclusive(self, sel: Selector) -> Measured:
        k, by = self._sum(self._inc, self.bit[sel])
        return Measured(self.share(k), k, by)

    def self_(self, sel: Selector) -> Measured:
        k, by = self._sum(self._leaf, self.bit[sel])
        return Measured(self.share(k), k, by)

    def samples(self, sel: Selector) -> Measured:
        k, by = self._sum(self._inc, self.bit[sel])
        return Measured(float(k), k, by)

    def cores(self, sel: Selector) -> Measured:
        k, by = self._sum(self._inc, self.bit[sel])
        cap = self.profile.capture
        c = cores_used(k, cap.frequency_hz, cap.duration_s)
        return Measured(c, k, by, note=None if c is not None else "needs the sampling frequency and the duration")

    def below(self, above: Selector, below: Selector) -> Measured:
        """Samples in which a `below` frame is called (at any depth) from an `above` frame."""
        ba, bb = self.bit[above], self.bit[below]
        fb = self.frame_bits
        total = 0
        by: dict[int, float] = {}
        for s, m in zip(self.profile.stacks, self.stack_bits):
            if m & ba and m & bb and self._ordered(s.frames, fb, ba, bb):
                total += s.samples
                by[s.thread] = by.get(s.thread, 0) + s.samples
        return Measured(self.share(total), total, by)

    @staticmethod
    def _ordered(frames: tuple[int, ...], fb: list[int], ba: int, bb: int) -> bool:
        seen = False
        for f in frames:
            bits = fb[f]
            if seen and bits & bb:
                return True
            if bits & ba:
                seen = True
        return False

    def attributed(self, via: Selector, to: Selector, among: Selector) -> Measured:
        """The samples under `via` frames (system-call wrappers, say), attributed to `to` in the
        proportion in which the deeper samples under `via` reach `to` rather than the rest of
        `among`: the entry/exit and copy cost of a recvmsg() belongs to the socket it reads,
        even in samples that do not show the socket's own frames."""
        bv, bt, ba = self.bit[via], self.bit[to], self.bit[among]
        fb = self.frame_bits
        # (thread, the outermost `via` frame) -> [under it, reaching to, reaching among]: each
        # wrapper on each thread is attributed by its own deeper samples.
        per: dict[tuple[int, int], list[int]] = {}
        for s, m in zip(self.profile.stacks, self.stack_bits):
            if not m & bv:
                continue
            outer = next(f for f in s.frames if fb[f] & bv)
            row = per.setdefault((s.thread, outer), [0, 0, 0])
            row[0] += s.samples
            if m & ba and self._ordered(s.frames, fb, bv, ba):
                row[2] += s.samples
                if m & bt and self._ordered(s.frames, fb, bv, bt):
                    row[1] += s.samples
        if not any(r[2] for r in per.values()):
            return Measured(0.0, 0, {}, note="no sample under these calls reaches any of the compared paths")
        # A wrapper whose samples never reach a compared path (all in entry/exit, say) takes the
        # proportion of the same wrapper function on all threads, if there is one.
        by_func: dict[int, list[int]] = {}
        for (_, f), r in per.items():
            agg = by_func.setdefault(f, [0, 0])
            agg[0] += r[1]
            agg[1] += r[2]
        by: dict[int, float] = {}
        attributed = 0.0
        for (t, f), (under, reach_to, reach_among) in per.items():
            if reach_among:
                ratio = reach_to / reach_among
            else:
                agg = by_func[f]
                ratio = agg[0] / agg[1] if agg[1] else 0.0
            part = under * ratio
            attributed += part
            by[t] = by.get(t, 0.0) + part
        return Measured(self.share(attributed), attributed, by)

    def top_category(self, sel: Selector) -> Measured:
        """The category (of the given ones, or of the given component) with the largest inclusive share."""
        best: tuple[float, str | None, int, dict[int, float]] = (0.0, None, 0, {})
        for cat, sub in self.category_selectors(sel):
            m = self.inclusive(sub)
            if m.value > best[0]:  # type: ignore[operator]
                c = self.kb.category_by_id[cat]
                best = (float(m.value), c.subject or c.id, int(m.samples or 0), m.by_thread or {})  # type: ignore[arg-type]
        return Measured(best[0], best[2], best[3], subject=best[1])

    def category_selectors(self, sel: Selector) -> list[tuple[str, Selector]]:
        return category_selectors(self.kb, sel)

    # -- evidence ----------------------------------------------------------------------------

    def stacks_with(self, sel: Selector) -> list[int]:
        bit = self.bit[sel]
        return [i for i, m in enumerate(self.stack_bits) if m & bit]

    def frames_matching(self, sel: Selector) -> list[int]:
        bit = self.bit[sel]
        return [i for i, b in enumerate(self.frame_bits) if b & bit]


def category_selectors(kb: Knowledge, sel: Selector) -> list[tuple[str, Selector]]:
    """One selector per category that a top_category measurement compares."""
    cats = list(sel.category) or [c.id for c in kb.categories if c.component in sel.component]
    return [(c, Selector(category=(c,), thread=sel.thread, process=sel.process)) for c in cats]


def confidence(share: float, threshold: float, n: int) -> float:
    """How sure we are that the true share is at or above the threshold, from n samples
    (normal approximation to the binomial; 0.5 exactly at the threshold)."""
    if n <= 0:
        return 0.0
    p = min(max(share, 0.0), 1.0)
    se = math.sqrt(max(p * (1 - p), 1.0 / n) / n)
    z = (p - threshold) / se
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def env_lookup(env: dict[str, Any], path: str) -> Any:
    """environment["sysctl"]["net.core.rmem_max"] for "sysctl.net.core.rmem_max"."""
    node: Any = env
    rest = path
    while rest:
        if isinstance(node, dict) and rest in node:
            return node[rest]
        head, _, tail = rest.partition(".")
        if not isinstance(node, dict) or head not in node:
            return None
        node, rest = node[head], tail
    return node


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        # One number only: "4096 131072 6291456" (udp_mem, tcp_rmem) is not one number, and is
        # not compared as if it were its first.
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
