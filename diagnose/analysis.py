"""The result of analysing one capture: what every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from diagnose.profile import Profile
from diagnose.summary import Summary


@dataclass
class Analysis:
    profile: Profile
    graph: nx.DiGraph
    summary: Summary
    findings: list[Any] = field(default_factory=list)
