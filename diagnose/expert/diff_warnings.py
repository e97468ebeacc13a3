"""What makes two captures compare badly, said before any change is claimed (`diagnose diff`):
they share no process (two different programs, not one program before and after a change), they
sampled different events or at different frequencies, or they unwound their call chains
differently (frame pointers against DWARF: the unwinder changed, not the program, and functions
or findings may come and go from that alone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagnose.core.report_words import label, texts

if TYPE_CHECKING:
    from diagnose.expert.diff_sides import Side

KINDS = ("no-common-process", "event", "frequency", "call-graph")


@dataclass(frozen=True)
class DiffWarning:
    kind: str  # one of KINDS
    before: str
    after: str

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"kind": self.kind, "before": self.before, "after": self.after, "text": self.text(lang)}

    def text(self, lang: str = "en") -> str:
        before, after = self.before, self.after
        if self.kind == "call-graph":
            before, after = (_mode_text(m, lang) for m in (before, after))
        return label(f"dw_{self.kind.replace('-', '_')}", lang).format(before=before, after=after)


def _mode_text(mode: str, lang: str) -> str:
    return label(f"cg_{mode}", lang) if f"cg_{mode}" in texts() else mode


def diff_warnings(before: Side, after: Side) -> list[DiffWarning]:
    out = []
    if before.processes and after.processes and not before.processes & after.processes:
        out.append(DiffWarning("no-common-process", ", ".join(sorted(before.processes)[:6]),
                               ", ".join(sorted(after.processes)[:6])))
    if before.event and after.event and before.event.split(":")[0] != after.event.split(":")[0]:
        # cpu-clock:ppp and cpu-clock:pppH are one event (modifiers: precision, host): no warning
        out.append(DiffWarning("event", before.event, after.event))
    if before.frequency_hz and after.frequency_hz and before.frequency_hz != after.frequency_hz:
        out.append(DiffWarning("frequency", f"{before.frequency_hz:g}", f"{after.frequency_hz:g}"))
    if before.call_graph and after.call_graph and before.call_graph != after.call_graph:
        out.append(DiffWarning("call-graph", before.call_graph, after.call_graph))
    return out
