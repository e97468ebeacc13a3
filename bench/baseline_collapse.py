"""The simplest correct plain-Python collapser: the benchmark's baseline.

Reads `perf script` text line by line and writes folded stacks with stackcollapse-perf.pl's default
options (root frame = comm, offsets dropped, `[unknown]` named by its module, argument lists
dropped, counts = summed periods, only the first event). One regular expression per line, no
caches, no parallelism: what a careful person writes in an afternoon.

    python3 bench/baseline_collapse.py INPUT > OUTPUT
"""

from __future__ import annotations

import re
import sys

EVENT = re.compile(r"^(\S.+?)\s+(\d+)/*(\d+)*\s+")
EVENT_TAIL = re.compile(r":\s*(\d+)*\s+(\S+):\s*$")
FRAME = re.compile(r"^\s*(\w+)\s*(.+) \((\S*)\)")
OFFSET = re.compile(r"\+0x[\da-f]+$")
GO = re.compile(r"\.\(.*\)\.")
ARGS = re.compile(r"\((?!anonymous namespace\)).*")


def main(path: str) -> None:
    folded: dict[str, int] = {}
    stack: list[str] = []
    comm: str | None = None
    period = 1
    event_filter: str | None = None
    skip = False
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.startswith("#"):
                continue
            line = line.rstrip("\n")
            if not line:
                if comm is not None and not skip:
                    key = ";".join([comm] + stack[::-1])
                    folded[key] = folded.get(key, 0) + period
                stack, comm, period, skip = [], None, 1, False
                continue
            m = EVENT.match(line)
            if m:
                comm = m.group(1).replace(" ", "_")
                t = EVENT_TAIL.search(line)
                period = 1
                if t:
                    period = int(t.group(1)) if t.group(1) else 1
                    if event_filter is None:
                        event_filter = t.group(2)
                    elif t.group(2) != event_filter:
                        skip = True
                continue
            m = FRAME.match(line)
            if m is None or comm is None:
                continue
            _pc, func, module = m.groups()
            func = OFFSET.sub("", func)
            if func.startswith("("):
                continue
            names = []
            for part in func.split("->"):
                if part == "[unknown]":
                    part = "[" + (module.rsplit("/", 1)[-1] if module != "[unknown]" else "unknown") + "]"
                part = part.replace(";", ":")
                if not GO.search(part):
                    part = ARGS.sub("", part, count=1)
                part = part.replace('"', "").replace("'", "")
                if comm == "java" and part.startswith("L") and "/" in part:
                    part = part[1:]
                names.append(part + ("_[i]" if names else ""))
            stack.extend(reversed(names))
    if comm is not None and not skip:
        key = ";".join([comm] + stack[::-1])
        folded[key] = folded.get(key, 0) + period
    out = sys.stdout.buffer
    for key in sorted(folded, key=lambda k: k.encode("utf-8", "surrogateescape")):
        out.write(f"{key} {folded[key]}\n".encode("utf-8", "surrogateescape"))


if __name__ == "__main__":
    main(sys.argv[1])
