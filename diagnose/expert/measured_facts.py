"""The facts `diagnose run` measures beside the stacks (system-call counts, ...) as groups: the
key each is kept under in environment.json, what it is called, how to check its stored shape,
and how to get it when a capture lacks it. A report says, one line per group, which of them a
capture lacks and why (missing()); a new group is one more entry in GROUPS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagnose.expert import syscall_costs
from diagnose.core.texts import LANGS

if TYPE_CHECKING:
    from diagnose.expert.analysis import Analysis
    from diagnose.expert.knowledge import Knowledge
    from diagnose.model.profile import Profile


@dataclass(frozen=True)
class FactGroup:
    key: str                                   # environment.json key
    label: dict[str, str]                      # what it is, per language
    off_flag: str | None                       # the `diagnose run` option that turns it off
    shape_problem: Callable[[Any], str | None] | None = None
    # measurements.KEY of the JSON report (None when the capture lacks the group)
    report: Callable[[Profile, Knowledge | None, dict[str, Any] | None], dict[str, Any] | None] | None = None


GROUPS: list[FactGroup] = [
    FactGroup(syscall_costs.KEY, {"en": "system-call counts (calls/s and CPU per call, per call and thread)",
                                   "zh": "系统调用计数（每秒调用次数与每次调用的 CPU，按调用与线程）"},
              "--no-syscall-counts", syscall_costs.shape_problem, syscall_costs.report_block),
]

RUN = {"en": "record with `diagnose run --pid PID` to measure it", "zh": "用 `diagnose run --pid PID` 录制即可测得"}
NOT_A_FOLDER = {"en": "not in this capture (only a `diagnose run` folder has it)",
                "zh": "本次采集中没有（只有 `diagnose run` 的采集目录才有）"}
NOT_MEASURED = {"en": "not measured by the diagnose run that made this folder (an older version)",
                "zh": "生成该目录的 diagnose run 没有测量它（旧版本）"}
TURNED_OFF = {"en": "turned off with {flag}", "zh": "已用 {flag} 关闭"}
RUN_WITHOUT = {"en": "run `diagnose run` without {flag} to measure it", "zh": "不加 {flag} 运行 `diagnose run` 即可测得"}
UNAVAILABLE = {"en": "could not be measured: {why}", "zh": "无法测量：{why}"}
LINE = {"en": "{label}: {why}; {how}", "zh": "{label}：{why}；{how}"}
SHORT = {"en": "{label}: {why}", "zh": "{label}：{why}"}


@dataclass(frozen=True)
class Missing:
    key: str
    texts: dict[str, str]  # the line, per language

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "text": self.texts["en"], "texts": dict(self.texts)}


def shape_problem(env: dict[str, Any]) -> str | None:
    """What is wrong with the stored shape of a group in environment.json, or None."""
    for g in GROUPS:
        if g.shape_problem is not None and env.get(g.key) is not None:
            problem = g.shape_problem(env[g.key])
            if problem is not None:
                return problem
    return None


def missing(env: dict[str, Any] | None) -> list[Missing]:
    """The groups a capture lacks, each as one line saying why and how to get it. `env` is the
    recorded environment: empty (or None) for a capture that is not a `diagnose run` folder."""
    out = []
    for g in GROUPS:
        stored = env.get(g.key) if env else None
        if isinstance(stored, dict) and "skipped" not in stored and "unavailable" not in stored:
            continue
        texts = {}
        for lang in LANGS:
            if not env:
                why, how = NOT_A_FOLDER[lang], RUN[lang]
            elif not isinstance(stored, dict):
                why, how = NOT_MEASURED[lang], RUN[lang]
            elif "skipped" in stored:
                flag = g.off_flag or "its option"
                why, how = TURNED_OFF[lang].format(flag=flag), RUN_WITHOUT[lang].format(flag=flag)
            else:
                why, how = UNAVAILABLE[lang].format(why=stored.get("unavailable")), None
            template = LINE if how else SHORT
            texts[lang] = template[lang].format(label=g.label[lang], why=why, how=how)
        out.append(Missing(g.key, texts))
    return out


def report_block(analysis: Analysis) -> dict[str, Any]:
    """The JSON report's "measurements": each group's block (null when missing) and the lines of
    what is missing."""
    env = analysis.profile.capture.environment
    out: dict[str, Any] = {}
    for g in GROUPS:
        out[g.key] = g.report(analysis.profile, analysis.knowledge, env) if g.report is not None else None
    out["missing"] = [m.to_dict() for m in missing(env)]
    return out
