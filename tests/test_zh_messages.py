"""Every error and warning a user can get exists in Chinese: each message site of diagnose/ (found
by tests/helpers/message_sites.py, not listed by hand), its English text said with --lang zh, must
change and hold no English word (tests/helpers/zh_words.py says what is allowed)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from message_sites import SAMPLE, YAML_WHERE, message_sites  # noqa: E402
from zh_words import english_words, knowledge_code_tokens  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Sites whose text is not a message of their own, each with why.
NOT_MESSAGES = {
    # The builders: the messages are their callers' (input_error, YamlDoc.error, _refuse), found there.
    "diagnose/errors.py": "input_error() joins its caller's parts",
    "diagnose/yamlfile.py:57": "YamlDoc.error() joins its caller's parts",
    "diagnose/yamlfile.py:82": "_refuse() joins its caller's parts",
    # A report's socket notes: already in the report's language (report_texts.yaml), not a warning.
    "diagnose/report/sockets.py": "a report note made from knowledge texts in the report's language",
}


def _skipped(where: str) -> bool:
    return any(where == k or where.startswith(k + ":") for k in NOT_MESSAGES)


SITES = [s for s in message_sites(ROOT) if not _skipped(s.where)]
# A site that only passes on a text made elsewhere (`warn(w)` for each warning of a capture) has no
# text of its own: the text is checked where it is made.
def _own_text(message: str) -> bool:
    return re.search(r"[A-Za-z]{2}", message.replace(SAMPLE, "")) is not None


WITH_TEXT = [s for s in SITES if any(_own_text(m) for m in s.messages)]
NAMES = knowledge_code_tokens(ROOT)


def test_the_sites_are_found() -> None:
    """The search finds the errors and warnings it is meant to (a broken search would pass anything)."""
    kinds = {s.kind for s in WITH_TEXT}
    assert kinds == {"error", "warning", "part"}, kinds
    assert sum(s.kind == "error" for s in WITH_TEXT) > 200
    assert sum(s.kind == "warning" for s in WITH_TEXT) > 30
    texts = {m for s in WITH_TEXT for m in s.messages}
    assert "7: no such file; check the path" in texts
    assert f"{YAML_WHERE}: unknown field (a typo?); allowed: 7" in texts


@pytest.mark.parametrize("site", WITH_TEXT, ids=lambda s: s.where)
def test_every_message_has_chinese(site) -> None:
    from diagnose.messages import say

    for message in filter(_own_text, site.messages):
        zh = say(message, "zh")
        assert zh != message, f"{site.where}: no Chinese for: {message}"
        assert say(message, "en") == message
        bad = english_words(zh, NAMES)
        assert not bad, f"{site.where}: English words {sorted(set(bad))} in: {zh}\n(from: {message})"
