"""Texts in the user's language, and message templates filled with measured values (no eval:
only {name} and {name:format} with a closed set of formats)."""

from __future__ import annotations

import re
import string
from typing import Any

LANGS = ("en", "zh")


def tr(texts: dict[str, str] | None, lang: str) -> str:
    """The text in `lang`, falling back to English."""
    if not texts:
        return ""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


UNKNOWN = {"en": "unknown", "zh": "未知"}


def fmt_value(value: Any, spec: str, lang: str = "en") -> str:
    if isinstance(value, dict) and "en" in value:
        value = value.get(lang) or value["en"]  # a text in each language (a thread's role)
    if value is None:
        return UNKNOWN.get(lang, UNKNOWN["en"])
    if isinstance(value, dict) and isinstance(value.get("en"), str):
        return tr(value, lang)  # a measured fact that is a sentence in each language
    if spec in ("pct", "cores", "int", "num"):
        try:
            float(value)
        except (TypeError, ValueError):
            return str(value)  # a text value with a number format: show it as it is
    if spec == "pct":
        return f"{100 * float(value):.1f}%"
    if spec == "cores":
        return f"{float(value):.2f}"
    if spec == "int":
        return f"{int(round(float(value))):,}"
    if spec == "num":
        return f"{float(value):g}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class _Formatter(string.Formatter):
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def get_value(self, key: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        return kwargs.get(key)

    def format_field(self, value: Any, format_spec: str) -> str:
        return fmt_value(value, format_spec or "text", self.lang)


# [[ ... ]]: a part of a template shown only when every value it names is known (a sentence on
# measurements only some captures have, such as counted system calls).
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


def optional_parts(template: str) -> list[str]:
    return _OPTIONAL.findall(template)


def fill(template: str, values: dict[str, Any], lang: str = "en") -> str:
    """Fill a rule's message template with measured values ({share:pct}, {cores:cores}, ...);
    a value that could not be measured reads "unknown", and a [[ ... ]] part naming one is left out."""

    def part(m: re.Match[str]) -> str:
        names = [f for _, f, _, _ in string.Formatter().parse(m.group(1)) if f]
        return m.group(1) if all(values.get(n) is not None for n in names) else ""

    return _Formatter(lang).format(_OPTIONAL.sub(part, template), **values)
