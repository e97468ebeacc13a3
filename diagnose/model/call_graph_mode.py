"""How a perf recording unwound its call chains, read from the `perf record` command that made it
(perf keeps it in the header, `# cmdline :`): "fp" (frame pointers, `-g` or `--call-graph fp`),
"dwarf" (`--call-graph dwarf`: copies of the user stack unwound afterwards), "lbr", "none" (no
call chains asked for), or None when the capture does not say (folded stacks, pprof)."""

from __future__ import annotations

import re

# perf record's short options that take no value, so that "-ag" (grouped) holds -g.
_FLAGS = "aqvnsTPdBNRiW"
_GROUPED_G = re.compile(rf"-[{_FLAGS}]*g[{_FLAGS}]*")


def call_graph_mode(command: str | None) -> str | None:
    if not command:
        return None
    words = command.split()
    if not any(w == "record" or w.endswith("perf-record") for w in words):
        return None
    mode = "none"
    for i, w in enumerate(words):
        if w == "--call-graph" and i + 1 < len(words):
            mode = words[i + 1].split(",")[0]
        elif w.startswith("--call-graph="):
            mode = w.split("=", 1)[1].split(",")[0]
        elif w == "--no-call-graph":
            mode = "none"
        elif _GROUPED_G.fullmatch(w) and mode == "none":
            mode = "fp"
        elif w == "--":  # the workload's own arguments follow
            break
    return mode or None
