"""The samples of a `perf script -F +pid` text read the plainest way (one sample per blank-line
separated block), for tests to compute the truth independently of diagnose's parser."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

_HEAD = re.compile(r"^(\S.*?)\s+(\d+)/(\d+)\s")
_FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)(?:\+0x[0-9a-f]+)?\s+\((.*)\)\s*$")


class Sample(NamedTuple):
    comm: str
    pid: int
    tid: int
    frames: list[tuple[str, str]]  # (symbol, module), leaf first


def samples(path: Path) -> Iterator[Sample]:
    with gzip.open(path, "rt") as f:
        text = f.read()
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith("#")]
        if not lines:
            continue
        m = _HEAD.match(lines[0])
        assert m, lines[0]
        frames = [(fm.group(1), fm.group(2)) for fm in map(_FRAME.match, lines[1:]) if fm]
        yield Sample(m.group(1), int(m.group(2)), int(m.group(3)), frames)
