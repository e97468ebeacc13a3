"""The fast way through perf script text printed without time stamps (a perf.data read by
diagnose, whose first and last sample times come from its header: perf_header): such a sample's
text (sample line and frame lines) repeats exactly wherever the same thread had the same stack.
So a chunk's samples are counted whole, in C (`collections.Counter` over the chunk cut at its
blank lines), and each distinct text is read once, then remembered: on a 60,000-sample
system-wide recording, 14,600 texts are read instead of 60,000 samples (texts differ where the
sampled instruction or a return address does).

A chunk that holds anything else (a sample without a call chain, a comment, a time stamp, a line
the frame table refuses, a period that is not a number) is left to the parser's usual way
(perf_script.ChunkParser._feed_fast), which reads it sample by sample; nothing of it is counted
here first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from diagnose.inputs.perf_lines import SAMPLE_LINE

# The parser these functions count for: a perf_script.ChunkParser (which imports this module).
ChunkParser = Any

# Distinct sample texts remembered (each a few hundred bytes): past this the memory starts anew.
SAMPLE_CACHE_LIMIT = 20_000
# What a sample text reads as: (its stack's key in PartialParse.counts, its period, its event).
Sample = tuple[tuple[int, ...], int, bytes]


class SampleTexts:
    """Sample text -> what it reads as, for one parser; and sample line -> its group, period and
    event (a thread's samples share one sample line, since it holds no time stamp)."""

    def __init__(self, parser: ChunkParser) -> None:
        self.parser = parser
        self.known: dict[bytes, Sample] = {}
        self.heads: dict[bytes, tuple[int, int, bytes] | None] = {}

    def read(self, text: bytes) -> Sample | None:
        """None: not a sample the fast way reads."""
        parser = self.parser
        lines = text.split(b"\n", 2)
        if len(lines) < 2:
            return None  # no call chain
        head = self.heads.get(lines[0], False)
        if head is False:
            head = self._head(lines[0])
        leaf = parser._line_id(lines[1])
        rest = parser._lines_ids(lines[2]) if len(lines) == 3 else ()
        if head is None or leaf < 0 or rest is None:
            return None
        g, p, event = head
        sample = ((g, leaf) + rest, p, event)
        if len(self.known) >= SAMPLE_CACHE_LIMIT:
            self.known.clear()
        self.known[text] = sample
        return sample

    def _head(self, line: bytes) -> tuple[int, int, bytes] | None:
        parser = self.parser
        m = SAMPLE_LINE.fullmatch(line)
        head = None
        if m is not None:
            who, time, period, event = m.groups()
            p = parser._period(period)
            if time is None and p is not None:
                g = parser._group_ids.get((who, event, True))
                head = (parser._group(who, event, True) if g is None else g, p, event)
        if len(self.heads) >= SAMPLE_CACHE_LIMIT:
            self.heads.clear()
        self.heads[line] = head
        return head


def feed_counted(parser: ChunkParser, texts: SampleTexts, chunk: bytes, chunk_index: int) -> bool:
    """Count the chunk's samples into the parser; False (nothing counted) when it must be read
    the usual way. The chunk holds whole samples, each ended by a blank line."""
    if not chunk.endswith(b"\n\n"):
        return False  # the input's last chunk, cut inside a sample: the usual way says where
    known = texts.known
    found: list[tuple[Sample, int, bytes]] = []
    for text, n in Counter(chunk.split(b"\n\n")).items():
        sample = known.get(text)
        if sample is None:
            if not text:
                continue
            if text[0] == 10:  # more blank lines between samples
                text = text.lstrip(b"\n")
                if not text:
                    continue
            sample = texts.read(text)
            if sample is None:
                return False
        found.append((sample, n, text))
    counts = parser.out.counts
    events = parser.out.events
    for (key, p, event), n, text in found:
        c = counts.get(key)
        if c is None:
            counts[key] = p if n == 1 else [n, n * p]
        elif type(c) is int:
            counts[key] = [n + 1, c + n * p]
        else:
            c[0] += n
            c[1] += n * p
        st = events.get(event)
        if st is None or st.first_strict is None:
            # Where the event is first seen, as the usual way says it: the sample's offset.
            parser._note_event(event, True, None, chunk_index, chunk.find(text))
    return True
