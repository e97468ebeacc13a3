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
    text = texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")
    return zh_tidy(text) if lang == "zh" and lang in texts else text


# Chinese text: an ideograph or a full-width punctuation mark.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_PUNCT = "，。：；！？、（）《》“”"
_FOLD_SPACE = re.compile(f"(?<=[{_PUNCT}]) +| +(?=[{_PUNCT}])|(?<=[\u4e00-\u9fff]) +(?=[\u4e00-\u9fff])")
_ASCII_PUNCT = {".": "。", ",": "，", ":": "：", ";": "；"}
_HALF_AFTER_CJK = re.compile(f"(?<=[{_CJK}])([.,:;])(?= |$)", re.MULTILINE)


def zh_tidy(text: str) -> str:
    """Chinese text as a reader expects it: no space that YAML line folding left beside a Chinese
    character or mark, and full-width punctuation (not `.` `,` `:` `;`) after Chinese words."""
    text = _FOLD_SPACE.sub("", text)
    text = _HALF_AFTER_CJK.sub(lambda m: _ASCII_PUNCT[m.group(1)], text)
    return re.sub(f"(?<=[{_PUNCT}]) +", "", text)


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

    text = _Formatter(lang).format(_OPTIONAL.sub(part, template), **values)
    return zh_tidy(text) if lang == "zh" else text
