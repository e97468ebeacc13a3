"""The `knowledge:` of a rule pack: its own sources, components, categories, thread roles and
recommendations, validated as the built-in knowledge base is (diagnose.expert.knowledge_entries).

An entry's id is namespaced by the pack: `id: json-parse` in pack `my-team` is
`my-team:json-parse`, which is how rules (the pack's and others') name it, so a pack never
replaces a built-in entry by reusing its id. Replacing one is explicit: `override: true` on an
entry whose id is a loaded one (`id: code.recvmmsg, override: true`). A pack's categories come
after the built-in ones (a frame a built-in category recognises keeps it) unless they override one;
its thread roles come after the built-in ones unless marked `override: true`, which puts them first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnose.expert import knowledge_entries as entries
from diagnose.expert.knowledge import Category, Component, Knowledge, Recommendation, ThreadRole, known_ids
from diagnose.expert.problems import Problems
from diagnose.core.yamlfile import YamlDoc

SECTIONS = ("sources", "components", "categories", "threads", "recommendations")


@dataclass
class PackKnowledge:
    pack: str
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    categories: list[Category] = field(default_factory=list)
    threads: list[ThreadRole] = field(default_factory=list)
    threads_first: list[ThreadRole] = field(default_factory=list)  # override: true
    recommendations: list[Recommendation] = field(default_factory=list)
    overrides: set[tuple[str, str]] = field(default_factory=set)  # (section, built-in id) replaced

    def empty(self) -> bool:
        return not (self.sources or self.components or self.categories or self.threads or self.threads_first
                    or self.recommendations)


def _plain_id(doc: YamlDoc, where: tuple, value: Any) -> str:
    rid = str(value)
    if not rid or ":" in rid or not all(c.isalnum() or c in "-_." for c in rid):
        raise doc.error(where, f"bad id {rid!r}",
                        "use letters, digits, - _ . (the pack's name is put before it: PACK:ID)")
    return rid


def _entry_id(doc: YamlDoc, where: tuple, item: Any, pack: str, existing: set[str], section: str,
              taken: set[str]) -> tuple[str, bool]:
    """The id an entry is stored under, and whether it overrides a loaded entry."""
    if not isinstance(item, dict) or "id" not in item:
        raise doc.error(where, f"a {section[:-1]} needs id:", "add id: ... (letters, digits, - _ .)")
    over = item.get("override", False)
    if not isinstance(over, bool):
        raise doc.error((*where, "override"), "must be true or false (without quotes)")
    if over:
        rid = str(item["id"])
        if rid not in existing:
            raise doc.error((*where, "id"), f"override: true names {section} entry {rid!r}, which is not loaded",
                            f"give the id of a built-in entry (diagnose rules list --knowledge), or drop override: "
                            f"to add {pack}:{rid}")
    else:
        rid = f"{pack}:{_plain_id(doc, (*where, 'id'), item['id'])}"
    if rid in taken:
        raise doc.error((*where, "id"), f"duplicate {section[:-1]} id {rid!r} in this pack", "rename one of them")
    taken.add(rid)
    return rid, over


def _without(item: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in drop}


def parse_pack_knowledge(doc: YamlDoc, value: Any, pack: str, base: Knowledge, problems: Problems) -> PackKnowledge:
    """The pack's `knowledge:` mapping, each entry checked on its own (every error is kept)."""
    out = PackKnowledge(pack)
    if value is None:
        return out
    top = ("knowledge",)
    if not isinstance(value, dict):
        problems.add(doc.error(top, "must be a mapping with " + ", ".join(f"{s}:" for s in SECTIONS)))
        return out
    for k in value:
        if k not in SECTIONS:
            problems.add(doc.error((*top, str(k)), "unknown knowledge section (a typo?)", f"use {', '.join(SECTIONS)}"))
    known = known_ids(base)
    known.sources_home = f"knowledge/sources.yaml or this pack's knowledge.sources (as {pack}:ID)"

    def section(name: str) -> list[tuple[tuple, Any]]:
        items = problems.attempt(entries.as_list, doc, (*top, name), value.get(name)) or []
        return [((*top, name, i), item) for i, item in enumerate(items)]

    srcs = value.get("sources")
    if srcs is not None and not isinstance(srcs, dict):
        problems.add(doc.error((*top, "sources"), "must be a mapping of id -> {title, url}",
                               "e.g. sources: {simdjson: {title: simdjson, url: 'https://simdjson.org'}}"))
    for sid, item in (srcs or {}).items() if isinstance(srcs, dict) else ():
        w = (*top, "sources", str(sid))

        def source(sid: Any = sid, item: Any = item, w: tuple = w) -> None:
            key = f"{pack}:{_plain_id(doc, w, sid)}"
            entries.keys(doc, w, item, {"title", "url", "note"}, {"title"})
            out.sources[key] = {k: str(v) for k, v in item.items()}
        problems.attempt(source)
    known.sources |= set(out.sources)

    taken: set[str] = set()
    for w, item in section("components"):
        def component(w: tuple = w, item: Any = item) -> None:
            cid, over = _entry_id(doc, w, item, pack, set(base.components), "components", taken)
            out.components.append(entries.component(doc, w, _without(item, "override"), cid))
            if over:
                out.overrides.add(("components", cid))
        problems.attempt(component)
    known.components |= {c.id for c in out.components}
    known.components_home = f"knowledge/components.yaml or this pack's knowledge.components (as {pack}:ID)"

    for w, item in section("categories"):
        def category(w: tuple = w, item: Any = item) -> None:
            cid, over = _entry_id(doc, w, item, pack, set(base.category_by_id), "categories", taken)
            if isinstance(item.get("component"), str) and item["component"] not in known.components \
                    and f"{pack}:{item['component']}" in known.components:
                raise doc.error((*w, "component"), f"unknown component {item['component']!r}",
                                f"this pack's own is {pack}:{item['component']}")
            out.categories.append(entries.category(doc, w, _without(item, "override"), cid, known))
            if over:
                out.overrides.add(("categories", cid))
        problems.attempt(category)

    for w, item in section("threads"):
        def thread(w: tuple = w, item: Any = item) -> None:
            if isinstance(item, dict) and "override" in item and not isinstance(item["override"], bool):
                raise doc.error((*w, "override"), "must be true or false (without quotes)")
            role = entries.thread_role(doc, w, item, known, entries.THREAD_KEYS | {"override"})
            (out.threads_first if item.get("override") else out.threads).append(role)
        problems.attempt(thread)

    for w, item in section("recommendations"):
        def recommendation(w: tuple = w, item: Any = item) -> None:
            rid, over = _entry_id(doc, w, item, pack, set(base.recommendations), "recommendations", taken)
            out.recommendations.append(entries.recommendation(doc, w, _without(item, "override"), rid, known))
            if over:
                out.overrides.add(("recommendations", rid))
        problems.attempt(recommendation)
    return out


def merge_knowledge(base: Knowledge, packs: list[PackKnowledge]) -> Knowledge:
    """The knowledge base with the packs' entries added (and the entries they override replaced)."""
    packs = [p for p in packs if not p.empty()]
    if not packs:
        return base
    kb = Knowledge.__new__(Knowledge)
    kb.sources, kb.components = dict(base.sources), dict(base.components)
    kb.categories, kb.threads = list(base.categories), list(base.threads)
    kb.recommendations, kb.stacks, kb.signals = dict(base.recommendations), list(base.stacks), list(base.signals)
    for p in packs:
        kb.sources.update(p.sources)
        kb.components.update({c.id: c for c in p.components})
        index = {c.id: i for i, c in enumerate(kb.categories)}
        for c in p.categories:
            if c.id in index:
                kb.categories[index[c.id]] = c
            else:
                kb.categories.append(c)
        kb.threads = [*p.threads_first, *kb.threads, *p.threads]
        kb.recommendations.update({r.id: r for r in p.recommendations})
    kb._index()
    return kb


def pack_of(entry_id: str) -> str | None:
    """The pack a namespaced id belongs to (`my-team:json-parse` -> my-team), None for a built-in id."""
    return entry_id.split(":", 1)[0] if ":" in entry_id else None

