"""Errors and warnings in the user's language: the English message, matched against the catalogue
knowledge/messages.yaml, said again in Chinese (a message without an entry stays as written)."""

from __future__ import annotations

import importlib.resources
import re
from functools import lru_cache

from diagnose.yamlfile import load_yaml_text

# The language of the command being run: set once by the command line (diagnose.cli) from --lang.
_lang = "en"


def set_lang(lang: str) -> None:
    global _lang
    _lang = lang if lang in ("en", "zh") else "en"


def current_lang() -> str:
    return _lang


def lang_of_argv(argv: list[str]) -> str:
    """The --lang given on a command line (`--lang zh`, `--lang=zh`), before any parsing: an error
    may come before the command reads its options."""
    for i, arg in enumerate(argv):
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
        out.append((re.compile(e["match"], re.DOTALL), e["zh"]))
    return out


def say(message: str, lang: str | None = None) -> str:
    """`message` in `lang` (default: the command's): the catalogue's Chinese when an entry matches
    the whole message, the message itself otherwise."""
    if (lang or _lang) != "zh":
        return message
    for pattern, zh in _catalogue():
        m = pattern.fullmatch(message)
        if m:
            return zh.format(**{k: v or "" for k, v in m.groupdict().items()})
    return message
