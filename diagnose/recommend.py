"""Recommendations as a finding carries them: knowledge entries made concrete for this capture
(for a sysctl: the current value when recorded, the suggested one, the commands to apply and
persist it, and whether it is needed at all). The tool never applies anything itself."""

from __future__ import annotations

from typing import Any

from diagnose.facts import as_number, env_lookup
from diagnose.knowledge import Knowledge, Recommendation
from diagnose.texts import LANGS

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


def concrete(rec: Recommendation, kb: Knowledge, environment: dict[str, Any], why_here: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec.id,
        "kind": rec.kind,
        "title": rec.title["en"],
        "why": rec.why["en"],
        "texts": _texts(("title", rec.title), ("why", rec.why), ("caveats", rec.caveats), ("where", rec.where),
                        ("why_here", why_here)),
        "sources": [{"id": s, **kb.sources.get(s, {})} for s in rec.sources],
    }
    if rec.caveats:
        out["caveats"] = rec.caveats["en"]
    if rec.where:
        out["where"] = rec.where["en"]
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
        out.update({
            "key": rec.key,
            "value": rec.value,
            "current": None if current is None else str(current),
            "default": rec.default,
            "mode": rec.mode,
            "ranges": rec.ranges,
            "status": sysctl_status(rec, current),
            "apply": [f"sudo sysctl -w {rec.key}={_quoted(rec.value)}"],
            "persist": [f"echo '{rec.key} = {rec.value}' | sudo tee -a {SYSCTL_CONF}", "sudo sysctl --system"],
        })
    else:
        out["status"] = "recommended"
    return out


def _quoted(value: str | None) -> str:
    v = value or ""
    return f'"{v}"' if " " in v else v
