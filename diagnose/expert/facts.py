"""Measurements that rules may use, computed exactly from the stacks of a profile.

Every frame selector a rule set uses gets one bit. Each frame gets the bits of the selectors it
matches, each stack the union of its frames' bits; stacks are then summed per (thread, bits), so
that a share is a sum over a few distinct masks instead of a walk over every stack. Each sample
is counted once per measurement, however many matching frames its stack holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import reduce
from operator import or_
from typing import Any

from diagnose.expert.attribution import KERNEL, attribution
from diagnose.expert.knowledge import Knowledge
from diagnose.core.patterns import compile_pattern
from diagnose.model.profile import Profile, cores_used
from diagnose.expert.rules import Selector
from diagnose.expert.syscalls import has_kernel_frames, stack_calls
from diagnose.expert.measured import (INFERRED_NOTE, NO_KERNEL_NOTE, Measured, _apportion,  # noqa: F401
                                      as_number, confidence, env_lookup)
from diagnose.expert.selector_bits import _SelectorBits, category_selectors  # noqa: F401


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
        self._has_kernel = has_kernel_frames(profile)
        self._calls: dict[tuple[int, str, bool, int], int] | None = None
        self.frame_bits = self._frame_bits(sels)
        self.thread_bits = self._thread_bits(sels)
        self._aggregate()

    # -- setup ---------------------------------------------------------------------------

    def _frame_bits(self, sels: list[Selector]) -> list[int]:
        key = tuple(sels)
        profile = self.profile
        origin = profile.origin
        parent = getattr(origin.parent, "_frame_bits", None) if origin is not None else None
        if origin is not None and parent is not None and parent[0] is self.kb and parent[1] == key:
            # A selection evaluated with the rules its parent was: a frame's bits are its bits there.
            self._bits = parent[2].for_other_frames()
            of_parent = parent[3]
            bits = [of_parent[f] for f in origin.frames]
        else:
            self._bits = _SelectorBits(self.kb, sels, self.bit)
            bits = [self._bits.of(i, f, cat) for i, (f, cat) in enumerate(zip(profile.frames, self.categories))]
        profile._frame_bits = (self.kb, key, self._bits, bits)  # type: ignore[attr-defined]
        return bits

    def _thread_bits(self, sels: list[Selector]) -> list[int]:
        proc_name = self.profile.program_names()
        out = []
        compiled: dict[str, re.Pattern[str] | Any] = {}

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
        tb = self.thread_bits
        att = attribution(self.profile, self.kb)
        frames = self.profile.frames
        # Selector bits of every frame, then of the virtual frames (a frame in the category it
        # takes on some path: net_rx_action inside a sendto is loopback delivery).
        fb = self.key_bits = self.frame_bits + [self._bits.of(f, frames[f], cat) for f, cat in att.virtual]
        self.att = att
        inc: dict[tuple[int, int], int] = {}
        leaf: dict[tuple[int, int], int] = {}
        owned: dict[tuple[int, int], int] = {}
        self.stack_bits: list[int] = []
        self.owner_bits: list[int] = []
        keys_of = att.keys
        # A few distinct masks, a million stacks: one int object per mask, not per stack.
        masks: dict[int, int] = {}
        intern = masks.setdefault
        for si, (s, o) in enumerate(zip(self.profile.stacks, att.owners)):
            if not s.frames:
                self.stack_bits.append(0)
                self.owner_bits.append(0)
                continue
            t = tb[s.thread]
            keys = keys_of(si)
            m = reduce(or_, map(fb.__getitem__, keys)) & t
            m = intern(m, m)
            self.stack_bits.append(m)
            k = (s.thread, m)
            inc[k] = inc.get(k, 0) + s.samples
            k2 = (s.thread, fb[keys[-1]] & t)
            leaf[k2] = leaf.get(k2, 0) + s.samples
            ob = fb[keys[o.position]] & t  # position -1: no recognised frame, the leaf's bits
            ob = intern(ob, ob)
            self.owner_bits.append(ob)
            k3 = (s.thread, ob)
            owned[k3] = owned.get(k3, 0) + s.samples
        self._inc, self._leaf, self._owned = inc, leaf, owned

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
        if self._unseen(sel):
            return self._unseen(sel)  # type: ignore[return-value]
        k, by = self._sum(self._inc, self.bit[sel])
        return Measured(self.share(k), k, by)

    def self_(self, sel: Selector) -> Measured:
        if self._unseen(sel):
            return self._unseen(sel)  # type: ignore[return-value]
        k, by = self._sum(self._leaf, self.bit[sel])
        return Measured(self.share(k), k, by)

    def owned(self, sel: Selector) -> Measured:
        """Samples owned by the selection: their owner frame (diagnose.expert.attribution, the model the
        component table uses) matches it."""
        if self._unseen(sel):
            return self._unseen(sel)  # type: ignore[return-value]
        k, by = self._sum(self._owned, self.bit[sel])
        return Measured(self.share(k), k, by)

    def samples(self, sel: Selector) -> Measured:
        if self._unseen(sel):
            return self._unseen(sel)  # type: ignore[return-value]
        k, by = self._sum(self._inc, self.bit[sel])
        return Measured(float(k), k, by)

    def cores(self, sel: Selector) -> Measured:
        if self._unseen(sel):
            return self._unseen(sel)  # type: ignore[return-value]
        k, by = self._sum(self._inc, self.bit[sel])
        cap = self.profile.capture
        c = cores_used(k, cap.frequency_hz, cap.duration_s)
        return Measured(c, k, by, note=None if c is not None else "needs the sampling frequency and the duration")

    def _unseen(self, sel: Selector) -> Measured | None:
        """A selection of kernel code only, in a profile without kernel frames (py-spy, pprof):
        not zero but unknown."""
        if self._has_kernel or not self._kernel_only(sel):
            return None
        return Measured(None, note=NO_KERNEL_NOTE)

    def _kernel_only(self, sel: Selector) -> bool:
        if sel.alternatives:
            return all(self._kernel_only(a) for a in sel.alternatives)
        if sel.kind == "kernel":
            return True
        if sel.symbol is not None or sel.module is not None:
            return False
        # The kernel component (recognised kernel categories and unrecognised kernel code) is
        # kernel code whatever its categories; other components count by their categories.
        cats = [self.kb.category_by_id[c] for c in sel.category if c in self.kb.category_by_id]
        cats += [c for c in self.kb.categories if c.component in sel.component and c.component != KERNEL]
        if not cats:
            return KERNEL in sel.component
        return all(c.kind == "kernel" for c in cats)

    def part(self, of: Selector, part: Selector, min_named: float = 0.5) -> Measured:
        """Samples owned by `of` whose stack holds a `part` frame (which algorithm inside the
        crypto, say). Unknown when fewer than `min_named` of `of`'s samples have a named function
        of `of` in their stack: in stripped libraries the split cannot be seen."""
        bo, bp = self.bit[of], self.bit[part]
        frames, fb, real = self.profile.frames, self.key_bits, self.att.real
        total = named = k = 0
        by: dict[int, float] = {}
        for si, s in enumerate(self.profile.stacks):
            if not self.owner_bits[si] & bo:
                continue
            total += s.samples
            # The split is visible where the stack names at least one function of `of` (NSS's
            # PK11_* above its stripped libfreebl); a chain that stops in stripped code cannot say.
            if any(fb[f] & bo and frames[real(f)].named for f in self.att.keys(si)):
                named += s.samples
            if self.stack_bits[si] & bp:
                k += s.samples
                by[s.thread] = by.get(s.thread, 0) + s.samples
        if total and named < min_named * total:
            return Measured(None, k, by, note=f"only {100 * named / total:.0f}% of these samples pass through named functions "
                                              f"(stripped libraries or broken call chains): record with --call-graph "
                                              f"dwarf or install debug symbols to see the split")
        return Measured(self.share(k), k, by)

    def below(self, above: Selector, below: Selector) -> Measured:
        """Samples in which a `below` frame is called (at any depth) from an `above` frame."""
        ba, bb = self.bit[above], self.bit[below]
        fb, keys = self.key_bits, self.att.keys
        total = 0
        by: dict[int, float] = {}
        for si, (s, m) in enumerate(zip(self.profile.stacks, self.stack_bits)):
            if m & ba and m & bb and self._ordered(keys(si), fb, ba, bb):
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
        fb, keys, real = self.key_bits, self.att.keys, self.att.real
        # (thread, the outermost `via` frame) -> [under it, reaching to, reaching among]: each
        # wrapper on each thread is attributed by its own deeper samples.
        per: dict[tuple[int, int], list[int]] = {}
        for si, (s, m) in enumerate(zip(self.profile.stacks, self.stack_bits)):
            if not m & bv:
                continue
            fr = keys(si)
            outer = real(next(f for f in fr if fb[f] & bv))
            row = per.setdefault((s.thread, outer), [0, 0, 0])
            row[0] += s.samples
            if m & ba and self._ordered(fr, fb, bv, ba):
                row[2] += s.samples
                if m & bt and self._ordered(fr, fb, bv, bt):
                    row[1] += s.samples
        if not any(r[2] for r in per.values()):
            return Measured(0.0, 0, {}, note="no sample under these calls reaches any of the compared paths")
        attributed, by, _ = _apportion(per)
        return Measured(self.share(attributed), attributed, by)

    def syscall(self, calls: str, to: Selector | None = None, among: Selector | None = None,
                assume: str | None = None) -> Measured:
        """Samples inside the system calls whose name matches `calls` (the call the kernel
        entered, diagnose.expert.syscalls). With `to`, only the part that serves `to`: per thread and
        call, in the proportion in which that call's samples reach `to` rather than the rest of
        `among` (a sendto's entry/exit belongs to the socket it writes to). A call none of whose
        samples shows the protocol (no kernel frames) counts as `to` only if `assume` names it."""
        assumed = compile_pattern(assume) if assume else None
        bt = self.bit[to] if to is not None else 0
        ba = self.bit[among] if among is not None else bt
        rows: dict[tuple[int, str], list[int]] = {}
        inferred = False
        for (thread, name, was_inferred, m), n in self._calls_matching(calls):
            inferred = inferred or was_inferred
            row = rows.setdefault((thread, name), [0, 0, 0])
            row[0] += n
            if m & ba or m & bt:
                row[2] += n
                if m & bt:
                    row[1] += n
        if to is None:
            total = sum(r[0] for r in rows.values())
            by: dict[int, float] = {}
            for (t, _), r in rows.items():
                by[t] = by.get(t, 0) + r[0]
            return Measured(self.share(total), total, by, inferred=inferred,
                            note=INFERRED_NOTE if inferred else None)
        attributed, by, assumed_any = _apportion(
            rows, (lambda name: assumed.fullmatch(name) is not None) if assumed is not None else None)
        note = None
        if assumed_any:
            note = f"{INFERRED_NOTE}; {assume} counted as {to.describe()} (the socket type is not visible)"
        elif inferred:
            note = INFERRED_NOTE
        return Measured(self.share(attributed), attributed, by, note=note, inferred=inferred)

    def _calls_table(self) -> dict[tuple[int, str, bool, int], int]:
        """Samples inside system calls by (thread, call, read from a wrapper, stack bits):
        what every system-call measure sums, built once."""
        if self._calls is None:
            table: dict[tuple[int, str, bool, int], int] = {}
            for s, call, m in zip(self.profile.stacks, stack_calls(self.profile), self.stack_bits):
                if call is not None:
                    key = (s.thread, call.name, call.inferred, m)
                    table[key] = table.get(key, 0) + s.samples
            self._calls = table
        return self._calls

    def _calls_matching(self, calls: str | None) -> Iterator[tuple[tuple[int, str, bool, int], int]]:
        """The rows of the calls table whose call name matches `calls` (all rows without it)."""
        table = self._calls_table()
        if calls is None:
            yield from table.items()
            return
        pattern = compile_pattern(calls)
        wanted: dict[str, bool] = {}  # call name -> matches (tested once per name)
        for key, n in table.items():
            ok = wanted.get(key[1])
            if ok is None:
                ok = wanted[key[1]] = pattern.fullmatch(key[1]) is not None
            if ok:
                yield key, n

    def top_syscall(self, calls: str | None = None) -> Measured:
        """The system call (by what the kernel entered) with the most samples, of those whose
        name matches `calls` if given; its name is the subject."""
        per: dict[str, list[Any]] = {}
        inferred = False
        for (thread, name, was_inferred, _), n in self._calls_matching(calls or None):
            row = per.setdefault(name, [0, {}])
            row[0] += n
            row[1][thread] = row[1].get(thread, 0) + n
            inferred = inferred or was_inferred
        if not per:
            return Measured(0.0, 0, {}, note="no sample is inside such a system call")
        name, (k, by) = max(per.items(), key=lambda kv: (kv[1][0], kv[0]))
        return Measured(self.share(k), k, by, subject=name, inferred=inferred,
                        note=INFERRED_NOTE if inferred else None)

    def top_category(self, sel: Selector, owned: bool = False) -> Measured:
        """The category (of the given ones, or of the given component) with the largest inclusive
        share, or with the largest owned share."""
        best: tuple[float, str | None, int, dict[int, float]] = (0.0, None, 0, {})
        unseen = seen = 0
        for cat, sub in self.category_selectors(sel):
            m = self.owned(sub) if owned else self.inclusive(sub)
            if m.value is None:  # kernel code in a profile without kernel frames
                unseen += 1
                continue
            seen += 1
            if m.value > best[0]:  # type: ignore[operator]
                c = self.kb.category_by_id[cat]
                best = (float(m.value), c.subject or c.id, int(m.samples or 0), m.by_thread or {})  # type: ignore[arg-type]
        if unseen and not seen:
            return Measured(None, note=NO_KERNEL_NOTE)
        return Measured(best[0], best[2], best[3], subject=best[1])

    def category_selectors(self, sel: Selector) -> list[tuple[str, Selector]]:
        return category_selectors(self.kb, sel)

    # -- evidence ----------------------------------------------------------------------------

    def stacks_with(self, sel: Selector) -> list[int]:
        bit = self.bit[sel]
        return [i for i, m in enumerate(self.stack_bits) if m & bit]

    def frames_matching(self, sel: Selector) -> list[int]:
        """The functions in the selection: frames matching it, or taking a category of it on some
        path (net_rx_action as loopback delivery)."""
        bit = self.bit[sel]
        real = self.att.real
        return sorted({real(i) for i, b in enumerate(self.key_bits) if b & bit})

    def stacks_owned_by(self, sel: Selector) -> list[int]:
        bit = self.bit[sel]
        return [i for i, m in enumerate(self.owner_bits) if m & bit]
