"""Which rule selectors each frame matches, as bits: one bit per selector a rule set uses, a
frame's bits from its symbol, module, category, thread and process (RE2 pattern sets, each frame
matched once), and the per-category selectors a top_category measurement compares.
diagnose.expert.facts sums samples over these masks."""

from __future__ import annotations

import copy
from functools import reduce
from operator import or_

from diagnose.core.patterns import PatternSet
from diagnose.expert.knowledge import Category, Knowledge
from diagnose.expert.rules import Selector
from diagnose.model.profile import Frame


class _SelectorBits:
    """The selector bits of a frame as a given category: frame selectors test the category the
    frame takes on a path, which for a contextual category differs from its usual one."""

    def __init__(self, kb: Knowledge, sels: list[Selector], bit: dict[Selector, int]) -> None:
        self.kb = kb
        self.bit = bit
        self.all_bits = reduce(or_, bit.values(), 0)
        self.cat_bits: dict[str, int] = {}
        self.comp_bits: dict[str, int] = {}
        self.kind_bits = {"kernel": 0, "user": 0}
        self.free = {"cat": 0, "comp": 0, "sym": 0, "mod": 0, "kind": 0}
        sym_patterns: list[str] = []
        self.sym_bits: list[int] = []
        mod_patterns: list[str] = []
        self.mod_bits: list[int] = []
        self.unions = [s for s in sels if s.alternatives]
        for s in sels:
            b = bit[s]
            if s.alternatives:
                continue  # set below from its alternatives
            if s.category:
                for c in s.category:
                    self.cat_bits[c] = self.cat_bits.get(c, 0) | b
            else:
                self.free["cat"] |= b
            if s.component:
                for c in s.component:
                    self.comp_bits[c] = self.comp_bits.get(c, 0) | b
            else:
                self.free["comp"] |= b
            if s.symbol is not None:
                sym_patterns.append(s.symbol)
                self.sym_bits.append(b)
            else:
                self.free["sym"] |= b
            if s.module is not None:
                mod_patterns.append(s.module)
                self.mod_bits.append(b)
            else:
                self.free["mod"] |= b
            if s.kind is not None:
                self.kind_bits[s.kind] |= b
            else:
                self.free["kind"] |= b
        self.syms, self.mods = PatternSet(sym_patterns), PatternSet(mod_patterns)
        self._name_bits: dict[int, int] = {}  # a frame's name bits, again for its virtual frames

    def for_other_frames(self) -> _SelectorBits:
        """The same selectors for the frames of another profile (frame ids are a profile's own):
        the compiled patterns are shared, the name bits cached per frame id are not."""
        other = copy.copy(self)
        other._name_bits = {}
        return other

    def _names(self, f: Frame) -> int:
        """The bits a frame's symbol and module give, whatever its category."""
        bits = self.all_bits
        if self.sym_bits:
            bits &= self.free["sym"] | reduce(or_, (self.sym_bits[i] for i in self.syms.match(f.name)), 0)
        if self.mod_bits:
            # A frame whose module is unknown is matched as module "[unknown]", as perf prints it.
            base = f.module_base or "[unknown]"
            bits &= self.free["mod"] | reduce(or_, (self.mod_bits[i] for i in self.mods.match(base)), 0)
        return bits & (self.free["kind"] | self.kind_bits[f.kind])

    def of(self, frame_id: int, f: Frame, cat: Category | None) -> int:
        """The bits of the selectors a frame matches when it is in category `cat`."""
        names = self._name_bits.get(frame_id)
        if names is None:
            names = self._name_bits[frame_id] = self._names(f)
        bits = names & (self.free["cat"] | (self.cat_bits.get(cat.id, 0) if cat else 0))
        comp = self.kb.component_of(f, cat)
        bits &= self.free["comp"] | self.comp_bits.get(comp, 0)
        for u in self.unions:
            if any(bits & self.bit[a] for a in u.alternatives):
                bits |= self.bit[u]
        return bits


def category_selectors(kb: Knowledge, sel: Selector) -> list[tuple[str, Selector]]:
    """One selector per category that a top_category measurement compares."""
    cats = list(sel.category) or [c.id for c in kb.categories if c.component in sel.component]
    return [(c, Selector(category=(c,), thread=sel.thread, process=sel.process)) for c in cats]
