"""Recommendations as a finding carries them: knowledge entries made concrete for this capture
(for a sysctl: the current value when recorded, the suggested one, the commands to apply and
persist it, and whether it is needed at all). The tool never applies anything itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from diagnose.core.texts import LANGS, tr
from diagnose.expert.facts import as_number, env_lookup
from diagnose.expert.knowledge import Knowledge, Recommendation
from diagnose.expert.platform import Platform
from diagnose.expert.syscall_costs import batching_estimate

OFFER, NOT_APPLICABLE, IN_EFFECT, NEEDS_EVIDENCE = "offer", "not-applicable", "already-in-effect", "needs-evidence"


# Why a recommendation is withheld, per language.
WHY_OTHER_STACK = {"en": "applies to {wanted}; this capture shows {seen}", "zh": "适用于 {wanted}；本次采集显示的是 {seen}"}
WHY_NO_EVIDENCE = {"en": "offered only on evidence of {wanted}, which this capture does not show",
                   "zh": "仅在有“{wanted}”的证据时提供，本次采集没有显示"}
WHY_NO_EVIDENCE_IN = {"en": "offered only on evidence of {wanted}, which {process} (most of this finding's samples) "
                            "does not show",
                      "zh": "仅在有“{wanted}”的证据时提供，而 {process}（本发现的大部分采样）没有显示"}
WHY_SET_ALREADY = {"en": "{key} is {value} already", "zh": "{key} 已经是 {value}"}
LIST_SEP = {"en": ", ", "zh": "、"}
OR = {"en": " or ", "zh": "或"}


def judge(rec: Recommendation, kb: Knowledge, platform: Platform,
          process: str | None = None) -> tuple[str, str | None, dict[str, str] | None]:
    """Whether a recommendation is offered for this capture: (status, the stack to phrase it
    for, why not, per language). It is not offered when it names stacks and the capture shows
    none of them, when a signal says it does not apply here (not_if) or is already in effect,
    or when it needs evidence the capture lacks."""
    markers = {m.id: m.title for m in (*kb.stacks, *kb.signals)}

    def names(ids: Iterable[str], lang: str, sep: dict[str, str] = LIST_SEP) -> str:
        return sep[lang].join(tr(markers[i], lang) for i in ids)

    seen = platform.stack_ids()
    if rec.applies_to and seen and not any(s in rec.applies_to for s in seen):
        return NOT_APPLICABLE, None, {lang: WHY_OTHER_STACK[lang].format(wanted=names(rec.applies_to, lang),
                                                                         seen=names(seen, lang)) for lang in LANGS}
    ruled_out = [u for u in rec.not_if if platform.has(u)]
    if ruled_out:
        u = ruled_out[0]
        signal = platform.signals.get(u)
        return NOT_APPLICABLE, None, {lang: f"{tr(markers[u], lang)} ({signal.why_texts[lang]})" if signal else
                                      tr(markers[u], lang) for lang in LANGS}
    in_effect = [u for u in rec.unless if platform.has(u)]
    if in_effect:
        u = in_effect[0]
        signal = platform.signals.get(u)
        return IN_EFFECT, None, {lang: f"{tr(markers[u], lang)} ({signal.why_texts[lang]})" if signal else
                                 tr(markers[u], lang) for lang in LANGS}
    if rec.requires and not any(platform.has(r) for r in rec.requires):
        # (process: the platform is judged on that process's threads, see platform.FindingPlatforms)
        why = WHY_NO_EVIDENCE_IN if process else WHY_NO_EVIDENCE
        return NEEDS_EVIDENCE, None, {lang: why[lang].format(wanted=names(rec.requires, lang, OR), process=process)
                                      for lang in LANGS}
    stack = next((s for s in seen if s in rec.variants), None)
    return OFFER, stack, None


def withheld_entry(rec_id: str, title: dict[str, str], status: str, why: dict[str, str]) -> dict[str, Any]:
    """A recommendation not offered, as a finding lists it (English fields, and texts per language)."""
    return {"id": rec_id, "title": tr(title, "en"), "status": status, "why": why["en"],
            "texts": {lang: {"title": tr(title, lang), "why": why[lang]} for lang in LANGS}}


def set_already(key: str, value: Any) -> dict[str, str]:
    return {lang: WHY_SET_ALREADY[lang].format(key=key, value=value) for lang in LANGS}


SYSCTL_CONF = "/etc/sysctl.d/90-diagnose.conf"


def _texts(*pairs: tuple[str, dict[str, str] | None]) -> dict[str, dict[str, str]]:
    return {lang: {k: (v or {}).get(lang, (v or {}).get("en", "")) for k, v in pairs if v} for lang in LANGS}


def sysctl_status(rec: Recommendation, current: Any) -> str:
    """recommended | already-satisfied | unknown-current."""
    if current is None:
        return "recommended"
    want, have = as_number(rec.value), as_number(current)
    if want is None or have is None:
        return "recommended"
    if rec.mode == "raise-only" and have >= want:
        return "already-satisfied"
    if rec.mode == "lower-only" and have <= want:
        return "already-satisfied"
    if rec.mode == "set" and have == want:
        return "already-satisfied"
    return "recommended"


def is_check_only(rec: dict[str, Any]) -> bool:
    """A sysctl recommendation that is no change to make: keep the kernel default, or check a
    value that has no single right setting."""
    return rec.get("status") in ("check", "check-default") or not rec.get("apply")


def concrete(rec: Recommendation, kb: Knowledge, environment: dict[str, Any], why_here: dict[str, str] | None = None,
             stack: str | None = None) -> dict[str, Any]:
    v = rec.variants.get(stack) if stack else None
    title = (v.title if v and v.title else None) or rec.title
    why = (v.why if v and v.why else None) or rec.why
    where = (v.where if v and v.where else None) or rec.where
    caveats = (v.caveats if v and v.caveats else None) or rec.caveats
    out: dict[str, Any] = {
        "id": rec.id,
        "kind": rec.kind,
        "title": title["en"],
        "why": why["en"],
        "texts": _texts(("title", title), ("why", why), ("caveats", caveats), ("where", where),
                        ("why_here", why_here)),
        "sources": [{"id": s, **kb.sources.get(s, {})} for s in rec.sources],
    }
    if rec.applies_to:
        out["applies_to"] = list(rec.applies_to)
    if v is not None:
        out["stack"] = stack
    if caveats:
        out["caveats"] = caveats["en"]
    if where:
        out["where"] = where["en"]
    if rec.commands:
        out["commands"] = list(rec.commands)
    if rec.kind == "sysctl" and rec.value is None:
        # No single value is right (udp_mem depends on RAM): what to check, not what to set.
        current = env_lookup(environment, f"sysctl.{rec.key}")
        out.update({"key": rec.key, "value": None, "current": None if current is None else str(current),
                    "default": rec.default, "mode": "check", "status": "check", "apply": [], "persist": [],
                    "commands": list(rec.commands) or [f"sysctl {rec.key}"]})
    elif rec.kind == "sysctl":
        current = env_lookup(environment, f"sysctl.{rec.key}")
        status = sysctl_status(rec, current)
        if current is None and rec.default is not None and as_number(rec.value) is not None \
                and as_number(rec.value) == as_number(rec.default):
            # The suggested value is the kernel's default: not a change to make, a value to check.
            status = "check-default"
        out.update({
            "key": rec.key,
            "value": rec.value,
            "current": None if current is None else str(current),
            "default": rec.default,
            "mode": rec.mode,
            "ranges": rec.ranges,
            "status": status,
            "apply": [f"sudo sysctl -w {rec.key}={_quoted(rec.value)}"],
            "persist": [f"echo '{rec.key} = {rec.value}' | sudo tee -a {SYSCTL_CONF}", "sudo sysctl --system"],
        })
    else:
        out["status"] = "recommended"
    if rec.batches is not None:
        estimate = batching_estimate(environment, rec.batches.calls, rec.batches.into, rec.batches.per_call)
        if estimate is not None:  # the calls were counted (diagnose run): the saving, with its assumption
            out["estimate"] = estimate
            for lang, texts in out["texts"].items():
                texts.update(estimate["texts"].get(lang, estimate["texts"]["en"]))
    return out


def _quoted(value: str | None) -> str:
    v = value or ""
    return f'"{v}"' if " " in v else v
