"""Errors and warnings in the user's language: the English message, matched against the catalogue
knowledge/messages.yaml, said again in Chinese (a message without an entry stays as written).

An entry's named groups are the parts that come from the input (a path, a value). A group whose
name starts with `t_` holds a text that may itself be a message of the catalogue (the reason an
operating-system call gave, the `what` and `fix` of a rule-pack error): it is said in Chinese too
when an entry matches it, and kept as written otherwise. A `[[ ... ]]` part of the Chinese text is
shown only when every group it names matched something; a group whose name starts with `has_` is
such a condition only (it shows as nothing: the English words it matched have no place in the
Chinese)."""

from __future__ import annotations

import importlib.resources
import re
from functools import lru_cache

from diagnose.core.yamlfile import load_yaml_text

# The language of the command being run: set once by the command line (diagnose.cli) from --lang.
_lang = "en"
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_FIELD = re.compile(r"\{(\w+)\}")
# How deep a message may nest in another (a reason inside an error inside a warning).
_MAX_NESTING = 4


def set_lang(lang: str) -> None:
    global _lang
    _lang = lang if lang in ("en", "zh") else "en"


def current_lang() -> str:
    return _lang


def lang_of_argv(argv: list[str]) -> str:
    """The --lang given on a command line (`--lang zh`, `--lang=zh`), before any parsing: an error
    may come before the command reads its options."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return "en"


@lru_cache(maxsize=1)
def _catalogue() -> list[tuple[re.Pattern[str], str]]:
    res = importlib.resources.files("diagnose.builtin_knowledge") / "messages.yaml"
    doc = load_yaml_text(res.read_text(encoding="utf-8"), "knowledge/messages.yaml")
    entries = doc.data.get("messages") if isinstance(doc.data, dict) else None
    out = []
    for i, e in enumerate(entries or []):
        if not isinstance(e, dict) or not isinstance(e.get("match"), str) or not isinstance(e.get("zh"), str):
            raise doc.error(("messages", i), "needs match and zh texts")
        pattern = re.compile(e["match"], re.DOTALL)
        named = set(_FIELD.findall(e["zh"]))
        if not named <= set(pattern.groupindex):
            raise doc.error(("messages", i, "zh"), f"names {sorted(named - set(pattern.groupindex))}, "
                                                     "which the match does not capture")
        out.append((pattern, e["zh"]))
    return out


def _fill(zh: str, values: dict[str, str]) -> str:
    def part(m: re.Match[str]) -> str:
        return m.group(1) if all(values.get(n) for n in _FIELD.findall(m.group(1))) else ""

    shown = {k: ("" if k.startswith("has_") else v) for k, v in values.items()}
    return _FIELD.sub(lambda m: shown.get(m.group(1), ""), _OPTIONAL.sub(part, zh))


def _say_zh(message: str, depth: int) -> str | None:
    if depth > _MAX_NESTING:
        return None
    for pattern, zh in _catalogue():
        m = pattern.fullmatch(message)
        if m:
            values = {}
            for name, value in m.groupdict().items():
                value = value or ""
                if name.startswith("t_") and value:
                    value = _say_zh(value, depth + 1) or value
                values[name] = value
            return _fill(zh, values)
    return None


def say(message: str, lang: str | None = None) -> str:
    """`message` in `lang` (default: the command's): the catalogue's Chinese when an entry matches
    the whole message, the message itself otherwise."""
    if (lang or _lang) != "zh":
        return message
    return _say_zh(message, 0) or message
