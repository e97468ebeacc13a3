"""Build a large `perf script` file from the real fixtures, as a long capture would look.

Samples are copied from fixtures/*.perf.txt.gz over and over. What changes between copies is what
changes in a real long capture: the sampled instruction address of the leaf frame (where in the
function the CPU was; its +0x offset moves with it), the time stamps, and, every few copies, the
load address of every user-space library (a process restarted under ASLR). Return addresses of
callers stay put, as they do in a real process.

With --unique-addresses every frame line of every sample has an address no other sample has (its
own load address, kernel frames included): the worst case for a parser that caches lines, as
JIT code or perf script of many short-lived processes gives. The folded stacks stay the same.

    python3 bench/make_big_capture.py OUT [--size-mb 110] [--seed 1] [--unique-addresses]
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAME = re.compile(rb"^(\s*)([0-9a-f]+) (.*?)(\+0x[0-9a-f]+)? \((.*)\)$")
HEAD_TIME = re.compile(rb"(\d+\.\d+):")
INCARNATIONS = 8


def load_samples() -> list[list[bytes]]:
    samples = []
    for path in sorted((ROOT / "fixtures").glob("*.perf.txt.gz")):
        if path.name.startswith("original-report-shape"):
            continue  # synthetic; the benchmark uses recordings only
        for block in gzip.decompress(path.read_bytes()).split(b"\n\n"):
            lines = [ln for ln in block.split(b"\n") if ln and not ln.startswith(b"#")]
            if len(lines) >= 2:
                samples.append(lines)
    return samples


def vary(lines: list[bytes], rnd: random.Random, aslr: int, t: float, shift: int = 0) -> bytes:
    head = HEAD_TIME.sub(f"{t:.6f}:".encode(), lines[0], count=1)
    out = [head]
    for depth, line in enumerate(lines[1:]):
        m = FRAME.match(line)
        if m is None:
            out.append(line)
            continue
        indent, addr_hex, sym, off, dso = m.groups()
        addr = int(addr_hex, 16)
        kernel = addr >= 0xFFFF800000000000
        if not kernel:
            addr += aslr
        addr += shift
        if depth == 0:
            delta = rnd.randrange(0, 96)
            addr += delta
            if off is not None:
                off = b"+0x%x" % (int(off[3:], 16) + delta)
        out.append(indent + b"%x " % addr + sym + (off or b"") + b" (" + dso + b")")
    return b"\n".join(out) + b"\n\n"


def build(out: Path, size_mb: float, seed: int, unique_addresses: bool = False) -> tuple[int, int]:
    rnd = random.Random(seed)
    samples = load_samples()
    target = int(size_mb * 1e6)
    written = count = 0
    t = 1000.0
    with out.open("wb") as f:
        f.write(b"# ========\n# synthetic long capture built by bench/make_big_capture.py from fixtures/\n# ========\n#\n")
        while written < target:
            aslr = rnd.randrange(0, INCARNATIONS) << 28
            for lines in samples:
                t += 0.0001
                # Pages apart: each sample's addresses are its own, and stay in their region.
                data = vary(lines, rnd, aslr, t, (count + 1) << 12 if unique_addresses else 0)
                f.write(data)
                written += len(data)
                count += 1
    return written, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size-mb", type=float, default=110)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--unique-addresses", action="store_true", help="no frame address repeats between samples")
    args = ap.parse_args()
    size, count = build(args.out, args.size_mb, args.seed, args.unique_addresses)
    print(f"wrote {args.out}: {size / 1e6:.1f} MB, {count:,} samples")


if __name__ == "__main__":
    main()
