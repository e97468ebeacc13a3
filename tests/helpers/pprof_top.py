"""Reading `go tool pprof -top` output back into numbers, for the pprof tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GO = shutil.which("go")
# pprof's time units (github.com/google/pprof/internal/measurement) in nanoseconds.
UNITS = {"": 1, "ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "mins": 60e9, "hrs": 3600e9}
_ROW = re.compile(r"^\s*([\d.]+)([a-z]*)\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)([a-z]*)\s+[\d.]+%\s+(.+?)\s*$")
_TOTAL = re.compile(r"Total samples = ([\d.]+)([a-z]*)")


@dataclass
class Row:
    flat: float  # in the unit of the sample type shown: samples, or nanoseconds
    cum: float
    flat_step: float  # half the last displayed digit: how far the shown value may be from the true one
    cum_step: float


@dataclass
class Top:
    total: float
    total_step: float
    rows: dict[str, Row]  # function name ("(inline)" dropped) -> figures
    text: str


def _value(number: str, unit: str) -> tuple[float, float]:
    scale = UNITS[unit]
    decimals = len(number.partition(".")[2])
    return float(number) * scale, 0.5 * 10 ** -decimals * scale


def parse_top(text: str) -> Top:
    m = _TOTAL.search(text)
    assert m, text
    total, total_step = _value(*m.groups())
    rows: dict[str, Row] = {}
    started = False
    for line in text.splitlines():
        if line.strip().startswith("flat"):
            started = True
            continue
        row = _ROW.match(line) if started else None
        if row is None:
            continue
        flat, fs = _value(row.group(1), row.group(2))
        cum, cs = _value(row.group(3), row.group(4))
        name = row.group(5).removesuffix(" (inline)")
        assert name not in rows, f"{name} is shown twice by pprof: {text}"
        rows[name] = Row(flat, cum, fs, cs)
    return Top(total, total_step, rows, text)


def pprof_top(path: Path, *options: str) -> Top:
    """`go tool pprof -top -nodecount=20 OPTIONS PATH`, parsed."""
    assert GO is not None
    proc = subprocess.run([GO, "tool", "pprof", "-top", "-nodecount=20", *options, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return parse_top(proc.stdout)
