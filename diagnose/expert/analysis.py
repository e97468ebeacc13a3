"""The result of analysing one capture: what every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diagnose.model.profile import Profile

if TYPE_CHECKING:
    import networkx as nx  # imported by what builds the call graph: 0.14 s that a flame graph needs not

    from diagnose.model.summary import Summary
    from diagnose.expert.engine import Evaluation
    from diagnose.expert.findings import Finding
    from diagnose.expert.knowledge import Knowledge
    from diagnose.expert.rules import RuleSet


@dataclass
class Analysis:
    profile: Profile
    graph: nx.DiGraph
    summary: Summary
    findings: list[Finding] = field(default_factory=list)
    evaluation: Evaluation | None = None
    ruleset: RuleSet | None = None
    knowledge: Knowledge | None = None
    lang: str = "en"
    # The JSON report lists every function (--all-functions), not only the top ones.
    all_functions: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
