"""What `diagnose graph` draws: its thresholds and their defaults (kept apart from the export,
so that the command line can show the defaults without loading networkx)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from diagnose.core.errors import DiagnoseError

DEFAULT_NODE_THRESHOLD = 0.5  # % inclusive, as gprof2dot's --node-thres
DEFAULT_EDGE_THRESHOLD = 0.1  # % of samples, as gprof2dot's --edge-thres


@dataclass(frozen=True)
class GraphOptions:
    node_threshold: float = DEFAULT_NODE_THRESHOLD
    edge_threshold: float = DEFAULT_EDGE_THRESHOLD
    lang: str = "en"

    def check(self) -> GraphOptions:
        for flag, v in (("--node-threshold", self.node_threshold), ("--edge-threshold", self.edge_threshold)):
            if not (math.isfinite(v) and 0 <= v <= 100):
                raise DiagnoseError(f"{flag} {v:g} is out of range; give a share of the samples in percent "
                                    f"(0-100, e.g. {DEFAULT_NODE_THRESHOLD:g})")
        return self
