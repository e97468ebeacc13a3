"""The fixed words of the reports (knowledge/report_texts.yaml), in English and Chinese, and the
short sentences every format shares."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from diagnose.core.report_words import label, texts
from diagnose.core.texts import tr
from diagnose.model.stats import pct

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis

SEVERITY_LABEL = {
    "critical": {"en": "CRITICAL", "zh": "严重"},
    "high": {"en": "HIGH", "zh": "高"},
    "medium": {"en": "MEDIUM", "zh": "中"},
    "low": {"en": "LOW", "zh": "低"},
    "info": {"en": "INFO", "zh": "提示"},
}


def figure_source(source: str | None, lang: str) -> str:
    """Where a figure of the overview comes from (`perf record command`, `header`), in words and
    in parentheses: "(from the header)", "（来源：文件头）"."""
    key = "src_" + (source or "").replace(" ", "_")
    what = label(key, lang) if key in texts() else (source or label("unknown", lang))
    return f"（{label('from_the', lang)}{what}）" if lang == "zh" else f"({label('from_the', lang)} {what})"


def colon(lang: str) -> str:
    """The separator after a label: ": " in English, "：" in Chinese."""
    return "：" if lang == "zh" else ": "


def zh_punct(text: str, lang: str) -> str:
    """A rendered report with full-width punctuation after Chinese words (a label's ": " becomes
    "："; both are two columns wide, so tables keep their alignment)."""
    return zh_tidy_colons(text) if lang == "zh" else text


def zh_tidy_colons(text: str) -> str:
    text = re.sub(r"(?<=[\u4e00-\u9fff）]): ", "：", text)
    text = re.sub(r"(?<=[\u4e00-\u9fff）]):(?=\*\*)", "：", text)  # a Markdown label: **标签:**
    # A sentence that ends a line: its full stop (a table's cell ends with `│` or `|`, never here).
    return re.sub(r"(?<=[\u4e00-\u9fff）])\.(?=[ \t]*$)", "。", text, flags=re.MULTILINE)


def severity_label(sev: str, lang: str) -> str:
    return SEVERITY_LABEL[sev].get(lang) or SEVERITY_LABEL[sev]["en"]


def platform_text(analysis: Analysis, lang: str) -> str:
    """The stacks the capture shows, largest first, and the signals of what is in effect."""
    kb, platform = analysis.knowledge, analysis.evaluation.platform  # type: ignore[union-attr]
    assert kb is not None and platform is not None
    titles = {m.id: tr(m.title, lang) for m in (*kb.stacks, *kb.signals)}
    parts = [f"{titles[st.id]} ({pct(st.share)})" for st in platform.stacks]
    sep = "；" if lang == "zh" else "; "
    # A signal that is a measurement the report shows in its own table (overview: false) is not repeated here.
    shown = {m.id for m in kb.signals if m.overview}
    signals = [k for k in platform.signals if k in shown]
    if signals:
        parts.append(f"{label('signals_seen', lang)}{colon(lang)}" + sep.join(titles[k] for k in signals))
    return sep.join(parts)


def redaction_text(analysis: Analysis) -> str | None:
    """What a `diagnose run` folder says of its redaction (diagnose.core.redact), in words; None when
    the capture does not say (not a run folder, or one from before redaction)."""
    red = (analysis.profile.capture.environment or {}).get("redaction")
    if not isinstance(red, dict):
        return None
    lang = analysis.lang
    n = red.get("redacted") if isinstance(red.get("redacted"), int) else 0
    parts = [label("secrets_kept", lang) if red.get("secrets_kept") is True else label("redacted_n", lang).format(n=n)]
    if red.get("anonymized") is True:
        parts.append(label("anonymized", lang))
    return "; ".join(parts)
