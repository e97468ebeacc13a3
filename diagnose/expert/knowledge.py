"""The knowledge base (knowledge/*.yaml): components, the symbol taxonomy, thread roles,
recommendations and their sources. Loads and validates it, and tells what each frame is."""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from typing import Any

from diagnose.core.errors import DiagnoseError
from diagnose.expert import knowledge_entries as entries
from diagnose.expert.knowledge_entries import RECOMMENDATION_KINDS, SYSCTL_MODES  # noqa: F401 (public names)
from diagnose.core.yamlfile import YamlDoc, load_yaml_text
from diagnose.expert.knowledge_types import (Batching, Category, Component, Knowledge, Localized,  # noqa: F401
                                             Marker, Recommendation, ThreadRole, Variant)

SCHEMA = "diagnose.knowledge/v1"
LANGS = ("en", "zh")
FILES = ("sources.yaml", "components.yaml", "taxonomy.yaml", "threads.yaml", "stacks.yaml", "recommendations.yaml")

# -- loading and validation ---------------------------------------------------------------

def _doc(doc: YamlDoc, top: str) -> list[Any] | dict[str, Any]:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), f"must be a mapping with schema: {SCHEMA} and {top}:")
    if data.get("schema") != SCHEMA:
        raise doc.error(("schema",), f"schema must be {SCHEMA}", f"add schema: {SCHEMA}")
    for k in data:
        if k not in ("schema", top):
            raise doc.error((str(k),), "unknown top-level field (a typo?)", f"allowed: schema, {top}")
    return data.get(top) or ([] if top != "sources" else {})


def parse_knowledge(texts: dict[str, tuple[str, str]], trusted: bool = False) -> Knowledge:
    """Build the knowledge base from file name -> (path for messages, YAML text); `trusted`: the
    files shipped with the package (see YamlDoc.trusted)."""
    kb = Knowledge.__new__(Knowledge)
    kb.sources, kb.components, kb.categories, kb.threads, kb.recommendations = {}, {}, [], [], {}
    kb.stacks, kb.signals = [], []
    docs = {name: load_yaml_text(text, path, trusted) for name, (path, text) in texts.items()}
    known = entries.Known()

    if "sources.yaml" in docs:
        doc = docs["sources.yaml"]
        srcs = _doc(doc, "sources")
        if not isinstance(srcs, dict):
            raise doc.error(("sources",), "must be a mapping of id -> {title, url}")
        for sid, item in srcs.items():
            entries.keys(doc, ("sources", sid), item, {"title", "url", "note"}, {"title"})
            kb.sources[str(sid)] = {k: str(v) for k, v in item.items()}
    known.sources = set(kb.sources)

    if "components.yaml" in docs:
        doc = docs["components.yaml"]
        for i, item in enumerate(entries.as_list(doc, ("components",), _doc(doc, "components"))):
            w = ("components", i)
            entries.keys(doc, w, item, entries.COMPONENT_KEYS, {"id"})
            cid = str(item["id"])
            if cid in kb.components:
                raise doc.error((*w, "id"), f"duplicate component id {cid!r}")
            kb.components[cid] = entries.component(doc, w, item, cid)
    known.components = set(kb.components)

    if "taxonomy.yaml" in docs:
        doc = docs["taxonomy.yaml"]
        seen: set[str] = set()
        for i, item in enumerate(entries.as_list(doc, ("categories",), _doc(doc, "categories"))):
            w = ("categories", i)
            entries.keys(doc, w, item, entries.CATEGORY_KEYS, {"id"})
            cid = str(item["id"])
            if cid in seen:
                raise doc.error((*w, "id"), f"duplicate category id {cid!r}")
            seen.add(cid)
            kb.categories.append(entries.category(doc, w, item, cid, known))

    if "threads.yaml" in docs:
        doc = docs["threads.yaml"]
        for i, item in enumerate(entries.as_list(doc, ("threads",), _doc(doc, "threads"))):
            kb.threads.append(entries.thread_role(doc, ("threads", i), item, known))

    if "stacks.yaml" in docs:
        doc = docs["stacks.yaml"]
        data = doc.data
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise doc.error(("schema",), f"schema must be {SCHEMA}", f"add schema: {SCHEMA}")
        for k in data:
            if k not in ("schema", "stacks", "signals"):
                raise doc.error((str(k),), "unknown top-level field (a typo?)", "allowed: schema, stacks, signals")
        seen_markers: set[str] = set()
        for top, out in (("stacks", kb.stacks), ("signals", kb.signals)):
            for i, item in enumerate(entries.as_list(doc, (top,), data.get(top))):
                marker = entries.marker(doc, (top, i), item)
                if marker.id in seen_markers:
                    raise doc.error((top, i, "id"), f"duplicate id {marker.id!r} (stacks and signals share ids)")
                seen_markers.add(marker.id)
                out.append(marker)
    known.stacks = {m.id for m in kb.stacks}
    known.signals = {m.id for m in kb.signals}

    if "recommendations.yaml" in docs:
        doc = docs["recommendations.yaml"]
        for i, item in enumerate(entries.as_list(doc, ("recommendations",), _doc(doc, "recommendations"))):
            w = ("recommendations", i)
            entries.keys(doc, w, item, entries.RECOMMENDATION_KEYS, {"id"})
            rid = str(item["id"])
            if rid in kb.recommendations:
                raise doc.error((*w, "id"), f"duplicate recommendation id {rid!r}")
            kb.recommendations[rid] = entries.recommendation(doc, w, item, rid, known)
    kb._index()
    return kb


def known_ids(kb: Knowledge) -> entries.Known:
    """The ids of a knowledge base that an entry may refer to."""
    return entries.Known(set(kb.sources), set(kb.components), {m.id for m in kb.stacks}, {m.id for m in kb.signals})


@lru_cache(maxsize=1)
def builtin_knowledge() -> Knowledge:
    """The knowledge base installed with the package."""
    root = importlib.resources.files("diagnose.builtin_knowledge")
    texts = {}
    for name in FILES:
        res = root / name
        if res.is_file():
            texts[name] = (f"knowledge/{name}", res.read_text(encoding="utf-8"))
    try:
        return parse_knowledge(texts, trusted=True)
    except DiagnoseError as exc:
        raise DiagnoseError(f"the installed knowledge base is broken: {exc.message}") from None
