"""The titles of the built-in rules in each language, for a saved report that keeps only the English
one (`diagnose explain --rule ID --lang zh`)."""

from __future__ import annotations

from functools import lru_cache

from diagnose.core.texts import tr
from diagnose.core.yamlfile import load_yaml_text


@lru_cache(maxsize=1)
def _titles() -> dict[str, dict[str, str]]:
    # re2: loaded only when this runs
    from diagnose.expert.rules import builtin_pack_files

    out: dict[str, dict[str, str]] = {}
    for name, text in builtin_pack_files():
        doc = load_yaml_text(text, name)
        rules = doc.data.get("rules") if isinstance(doc.data, dict) else None
        for rule in rules or []:
            if isinstance(rule, dict) and isinstance(rule.get("id"), str) and isinstance(rule.get("title"), dict):
                out[rule["id"]] = rule["title"]
    return out


def rule_title(rule_id: str, lang: str) -> str | None:
    """The built-in rule's title in `lang`; None for a rule of a user's pack."""
    titles = _titles().get(rule_id)
    return tr(titles, lang) if titles else None
