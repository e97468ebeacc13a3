"""One rule of a pack, parsed and checked part by part (header, each condition, score, texts,
knowledge references), so that `rules validate` can name every error of a rule at once."""

from __future__ import annotations

from typing import Any

from diagnose.core.errors import DiagnoseError
from diagnose.expert.knowledge import Knowledge
from diagnose.expert.problems import Problems
from diagnose.expert.rule_format import (RULE_KEYS, SEVERITIES, STATUSES, Condition, NotHelpful, Rule, _as_tuple,
                                  _check_template, _localized, parse_condition, parse_selector)
from diagnose.core.yamlfile import YamlDoc


def parse_rule(doc: YamlDoc, where: tuple, item: Any, kb: Knowledge | None, pack: str,
               problems: Problems | None = None) -> Rule | None:
    """A rule of a pack. Its independent parts (header, each condition, score, texts, references)
    are checked one by one: with `problems`, every error is kept there and None is returned for a
    rule with errors; without, the first error is raised."""
    own = problems is None
    found = Problems()
    rule = _parse_rule(doc, where, item, kb, pack, found)
    if own:
        found.raise_first()
    else:
        for e in found.errors:
            problems.add(e)  # type: ignore[union-attr]
    return None if found.errors else rule


def _parse_rule(doc: YamlDoc, where: tuple, item: Any, kb: Knowledge | None, pack: str, p: Problems) -> Rule | None:
    if not isinstance(item, dict):
        p.add(doc.error(where, "a rule must be a mapping"))
        return None
    for k in item:
        if k not in RULE_KEYS:
            p.add(doc.error((*where, str(k)), "unknown rule field (a typo?)", f"allowed: {', '.join(sorted(RULE_KEYS))}"))
    for k in ("id", "title", "severity", "when", "summary"):
        if k not in item:
            p.add(doc.error(where, f"missing required field {k!r}", f"add {k}: ..."))
    rid = str(item.get("id", ""))
    if "id" in item and (not rid or not all(c.isalnum() or c in "-_." for c in rid)):
        p.add(doc.error((*where, "id"), f"bad rule id {rid!r}", "use letters, digits, - _ ."))
    sev = str(item.get("severity", "info"))
    if sev not in SEVERITIES:
        p.add(doc.error((*where, "severity"), f"unknown severity {sev!r}", f"use one of {', '.join(SEVERITIES)}"))
    status = str(item.get("status", "stable"))
    if status not in STATUSES:
        p.add(doc.error((*where, "status"), f"unknown status {status!r}", f"use one of {', '.join(STATUSES)}"))
    params_raw = item.get("params") or {}
    params: dict[str, float] = {}
    if not isinstance(params_raw, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in params_raw.values()):
        p.add(doc.error((*where, "params"), "must map names to numbers", "e.g. params: {info: 0.05, warn: 0.2}"))
        if isinstance(params_raw, dict):  # still know the names, so that $name is not also an error
            params = {str(k): 0.0 for k in params_raw}
    else:
        params = {str(k): float(v) for k, v in params_raw.items()}

    names: set[str] = set()

    def conds(key: str) -> tuple[Condition, ...]:
        raw = item.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            p.add(doc.error((*where, key), "must be a list of conditions"))
            return ()
        out = []
        for i, c in enumerate(raw):
            if isinstance(c, dict) and isinstance(c.get("as"), str):
                names.add(c["as"])  # known even when the condition has an error: no error follows from it
            cond = p.attempt(parse_condition, doc, (*where, key, i), c, kb, params)
            if cond is not None:
                out.append(cond)
        return tuple(out)

    when, any_, none, measure = conds("when"), conds("any"), conds("none"), conds("measure")
    score = item.get("score") or {}
    if score:
        p.attempt(_check_score, doc, where, score, names, params)
    subject = item.get("subject")
    if subject is not None and str(subject) not in names and not str(subject).startswith("="):
        p.add(doc.error((*where, "subject"), f"{subject!r} is not a measured value of this rule",
                        "name a top_category or top_syscall condition with as:, or write =text for a fixed subject"))

    def texts(key: str, required: bool) -> dict[str, str]:
        out = p.attempt(_localized, doc, (*where, key), item.get(key), required) or {}
        p.attempt(_check_template, doc, (*where, key), out, names)
        return out

    summary = texts("summary", "summary" in item)
    explanation = texts("explanation", False)
    recommend = _as_tuple(item.get("recommend"))
    not_helpful = []
    if not isinstance(item.get("not_helpful") or [], list):
        p.add(doc.error((*where, "not_helpful"), "must be a list of {id: ..., why: ...}"))
    else:
        for i, nh in enumerate(item.get("not_helpful") or []):
            w = (*where, "not_helpful", i)
            if not isinstance(nh, dict) or "id" not in nh or "why" not in nh:
                p.add(doc.error(w, "must be {id: <recommendation id>, why: {en: ..., zh: ...}}"))
                continue
            why = p.attempt(_localized, doc, (*w, "why"), nh["why"])
            if why is not None:
                not_helpful.append(NotHelpful(str(nh["id"]), why))
    if kb is not None:
        for i, rec in enumerate(recommend):
            if rec not in kb.recommendations:
                p.add(_unknown_knowledge(doc, (*where, "recommend", i), rec, kb, pack))
        for i, nh in enumerate(not_helpful):
            if nh.id not in kb.recommendations:
                p.add(_unknown_knowledge(doc, (*where, "not_helpful", i, "id"), nh.id, kb, pack))
    ev = p.attempt(_evidence, doc, where, item.get("evidence") or {}, kb) or {}
    min_samples = item.get("min_samples", 0)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
        p.add(doc.error((*where, "min_samples"), "must be a whole number of samples"))
    if p.errors:
        return None
    return Rule(
        id=rid, title=_localized(doc, (*where, "title"), item["title"]), severity=sev,
        tags=_as_tuple(item.get("tags")), status=status, params=params, when=when, any=any_, none=none,
        measure=measure, score=dict(score), subject=str(subject) if subject is not None else None, summary=summary,
        explanation=explanation, evidence=ev, recommend=recommend, not_helpful=tuple(not_helpful),
        explains=_as_tuple(item.get("explains")), derive=_as_tuple(item.get("derive")),
        related=_as_tuple(item.get("related")), min_samples=min_samples, pack=pack,
        source=f"{doc.path}:{doc.line(where) or '?'}")


def _unknown_knowledge(doc: YamlDoc, where: tuple, rec: str, kb: Knowledge, pack: str) -> DiagnoseError:
    if f"{pack}:{rec}" in kb.recommendations:
        return doc.error(where, f"unknown knowledge id {rec!r}", f"this pack's own recommendation is {pack}:{rec}")
    return doc.error(where, f"unknown knowledge id {rec!r}",
                     "use an id from knowledge/recommendations.yaml (diagnose rules list --knowledge) "
                     "or one of this pack's knowledge.recommendations (as PACK:ID)")


def _check_score(doc: YamlDoc, where: tuple, score: Any, names: set[str], params: dict[str, float]) -> None:
    if not isinstance(score, dict) or "value" not in score:
        raise doc.error((*where, "score"), "must say which value it scores", "e.g. score: {value: share, info: $info, warn: $warn}")
    for k in score:
        if k not in ("value", "info", "warn"):
            raise doc.error((*where, "score", str(k)), "unknown key", "use value, info, warn")
    if not isinstance(score["value"], str) or score["value"] not in names:
        raise doc.error((*where, "score", "value"), f"{score['value']!r} is not a measured value of this rule",
                        f"name a condition with as: (known: {', '.join(sorted(names)) or 'none'})")
    if "info" not in score:
        raise doc.error((*where, "score"), "needs info: (the value that scores 25, where the rule starts to report)",
                        "e.g. score: {value: share, info: $info, warn: $warn}")
    for k in ("info", "warn"):
        v = score.get(k)
        if v is None and k == "warn":
            continue
        if isinstance(v, str) and v.startswith("$"):
            if v[1:] not in params:
                raise doc.error((*where, "score", k), f"unknown parameter {v}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise doc.error((*where, "score", k), "must be a number (0 or more) or a $parameter")


def _evidence(doc: YamlDoc, where: tuple, evidence: Any, kb: Knowledge | None) -> dict[str, Any]:
    if not isinstance(evidence, dict):
        raise doc.error((*where, "evidence"), "must be a mapping such as {stacks: 3}")
    for k in evidence:
        if k not in ("stacks", "selector", "functions"):
            raise doc.error((*where, "evidence", str(k)), "unknown key", "use stacks, functions, selector")
    ev = dict(evidence)
    for k in ("stacks", "functions"):
        if k in ev and (isinstance(ev[k], bool) or not isinstance(ev[k], int) or ev[k] < 0):
            raise doc.error((*where, "evidence", k), "must be a whole number (0 or more)")
    if "selector" in ev:
        ev["selector"] = parse_selector(doc, (*where, "evidence", "selector"), ev["selector"], kb)
    return ev
