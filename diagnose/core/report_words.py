"""The fixed words of the reports (knowledge/report_texts.yaml), in English and Chinese, by key:
what diagnose.report.labels builds its sentences from, and what a finding or a warning below the
report stage (diagnose.expert.diff_warnings) words itself with."""

from __future__ import annotations

import importlib.resources
from functools import lru_cache

from diagnose.core.errors import DiagnoseError
from diagnose.core.yamlfile import load_yaml_text


@lru_cache(maxsize=1)
def texts() -> dict[str, dict[str, str]]:
    res = importlib.resources.files("diagnose.builtin_knowledge") / "report_texts.yaml"
    doc = load_yaml_text(res.read_text(encoding="utf-8"), "knowledge/report_texts.yaml")
    data = doc.data.get("texts") if isinstance(doc.data, dict) else None
    if not isinstance(data, dict):
        raise DiagnoseError("knowledge/report_texts.yaml: missing texts:; reinstall diagnose")
    for key, value in data.items():
        if not isinstance(value, dict) or not value.get("en") or not value.get("zh"):
            raise doc.error(("texts", key), "needs both en and zh texts")
    return data


def label(key: str, lang: str) -> str:
    entry = texts()[key]
    return entry.get(lang) or entry["en"]
