"""The call graph as GraphML (networkx.write_graphml), for networkx, Gephi, yEd or Cytoscape.

Names come from the input: characters XML 1.0 cannot hold (C0 controls but tab and newline,
lone surrogates, U+FFFE/U+FFFF) are written escaped as `\\x01`, `\\udcff`; everything else is
kept exactly."""

from __future__ import annotations

import io
import re
from typing import Any

import networkx as nx

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        value)


def render_graphml(g: nx.DiGraph) -> bytes:
    safe = nx.DiGraph(**{k: _xml_safe(v) for k, v in g.graph.items()})
    safe.add_nodes_from((n, {k: _xml_safe(v) for k, v in d.items()}) for n, d in g.nodes(data=True))
    safe.add_edges_from((a, b, {k: _xml_safe(v) for k, v in d.items()}) for a, b, d in g.edges(data=True))
    buf = io.BytesIO()
    nx.write_graphml(safe, buf, encoding="utf-8", prettyprint=True)
    return buf.getvalue()
