"""The rule engine: evaluates a rule set over a profile's measurements, in dependency order
(facts derived by one rule feed the next), and records every condition's measured value, its
threshold and whether it passed, so that reports can say how a finding was reached and why a
rule did not fire."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from diagnose.expert.facts import Measured, Measurements, as_number, category_selectors, confidence, env_lookup
from diagnose.expert.finding_processes import count_of as _count, name_processes, processes_of
from diagnose.expert.findings import Finding, rank, score_curve, severity_for
from diagnose.expert.knowledge import Knowledge
from diagnose.expert.path_measures import dominator, passes_through
from diagnose.model.profile import Profile, cores_used
from diagnose.expert.platform import FindingPlatforms, detect
from diagnose.expert.recommend import IN_EFFECT, OFFER, concrete, judge, set_already, withheld_entry
from diagnose.expert.rules import SELECTOR_MEASURES, SEVERITIES, Condition, Rule, RuleSet, Selector
from diagnose.model.stats import cores_confidence
from diagnose.expert.syscall_costs import with_costs
from diagnose.core.texts import LANGS, fill, fmt_value
from diagnose.expert.thread_facts import with_roles
from diagnose.expert.evidence import OWNED_MEASURES, evidence as finding_evidence  # noqa: F401
from diagnose.expert.rule_environment import command_lines, environment_view, refine_subject  # noqa: F401
from diagnose.expert.trace import (OP_TEXT, PERCENT_MEASURES, SHARE_MEASURES, ConditionTrace,  # noqa: F401
                                   Evaluation, RuleTrace, _json, _shown, describe, why_not)

# Below this many samples with a call chain no finding is rated above info: shares are too uncertain.
MIN_SAMPLES = 200
# Below this many CPU cores (on average over the capture) the processes were essentially idle.
IDLE_CORES = 0.05
# A finding whose main value was read from wrapper frames only (no kernel frames) is this much
# less certain: the call is known, what the kernel did in it is not.
INFERRED_CONFIDENCE = 0.6


def selectors_of(rules: list[Rule], kb: Knowledge) -> list[Selector]:
    out: list[Selector] = []
    for r in rules:
        for c in (*r.when, *r.any, *r.none, *r.measure):
            if isinstance(c.arg, Selector):
                out.append(c.arg)
                if c.measure in ("top_category", "top_owned_category"):
                    out.extend(s for _, s in category_selectors(kb, c.arg))
            elif isinstance(c.arg, dict):
                out.extend(v for v in c.arg.values() if isinstance(v, Selector))
        sel = r.evidence.get("selector")
        if isinstance(sel, Selector):
            out.append(sel)
    return out


class _Run:
    def __init__(self, profile: Profile, ruleset: RuleSet, kb: Knowledge, brief: Collection[str] = ()) -> None:
        self.profile, self.ruleset, self.kb = profile, ruleset, kb
        self.brief = brief
        active = [r for r in ruleset.rules if r.enabled]
        self.m = Measurements(profile, kb, selectors_of(active, kb))
        self.facts: dict[str, Any] = {}
        self.fired: dict[str, Finding] = {}
        self.measured: dict[str, dict[str, Measured]] = {}
        # The recorded environment: measured threads named by role, counted system calls completed
        # with what each costs.
        self.env = with_costs(with_roles(environment_view(profile), kb), profile, kb)
        self.platform = detect(profile, kb, self.env)
        self.platforms = FindingPlatforms(self.platform, kb, self.env, profile)

    def measure(self, c: Condition) -> Measured:
        m = self.m
        if c.measure == "inclusive_share":
            return m.inclusive(c.arg)
        if c.measure == "self_share":
            return m.self_(c.arg)
        if c.measure == "owned_share":
            return m.owned(c.arg)
        if c.measure == "samples":
            return m.samples(c.arg)
        if c.measure == "cores":
            return m.cores(c.arg)
        if c.measure == "below_share":
            return m.below(c.arg["above"], c.arg["below"])
        if c.measure == "attributed_share":
            return m.attributed(c.arg["via"], c.arg["to"], c.arg["among"])
        if c.measure == "part_share":
            return m.part(c.arg["of"], c.arg["part"])
        if c.measure == "syscall_share":
            return m.syscall(**c.arg)
        if c.measure == "top_syscall":
            return m.top_syscall(**c.arg)
        if c.measure == "top_category":
            return m.top_category(c.arg)
        if c.measure == "top_owned_category":
            return m.top_category(c.arg, owned=True)
        if c.measure == "passes_through":
            return passes_through(m, c.arg["from"], c.arg["to"], c.arg["via"])
        if c.measure == "dominator":
            return dominator(m, c.arg)
        cap = self.profile.capture
        if c.measure == "stack_samples":
            return Measured(float(self.profile.stack_samples))
        if c.measure == "total_samples":
            return Measured(float(self.profile.total_samples))
        if c.measure == "cores_used":
            v = cores_used(self.profile.total_samples, cap.frequency_hz, cap.duration_s)
            return Measured(v, note=None if v is not None else "needs the sampling frequency and the duration")
        if c.measure == "env":
            v = env_lookup(self.env, str(c.arg))
            # A text read from the environment (a thread's name) can be a finding's subject.
            return Measured(v, subject=v if isinstance(v, str) else None,
                            note=None if v is not None else "not recorded with this capture")
        if c.measure == "fact":
            return Measured(self.facts.get(str(c.arg), False))
        if c.measure == "fired":
            return Measured(str(c.arg) in self.fired)
        raise AssertionError(c.measure)

    @staticmethod
    def resolve(threshold: Any, rule: Rule) -> Any:
        if isinstance(threshold, str) and threshold.startswith("$"):
            return rule.params[threshold[1:]]
        return threshold

    @staticmethod
    def compare(value: Any, op: str | None, threshold: Any, measure: str) -> bool | None:
        """True or False; None when the value cannot be measured or compared (a missing
        environment fact, a sysctl holding several numbers compared with one)."""
        if value is None:
            return None
        if op is None:
            if measure in ("fact", "fired", "env"):
                number = as_number(value)
                return bool(number) if number is not None else bool(value)
            return True
        a, b = as_number(value), as_number(threshold)
        if a is not None and b is not None:
            return {"gte": a >= b, "gt": a > b, "lte": a <= b, "lt": a < b, "eq": a == b, "ne": a != b}[op]
        sa, sb = str(value), str(threshold)
        if op in ("eq", "ne"):
            return (sa == sb) == (op == "eq")
        return None

    def evaluate(self, rule: Rule) -> tuple[RuleTrace, Finding | None]:
        trace = RuleTrace(rule.id, rule.title, rule.pack, rule.source, "not-fired")
        if not rule.enabled:
            trace.status, trace.why_not = "disabled", "disabled by a rule pack (disable: or override enabled: false)"
            return trace, None
        n = self.profile.stack_samples
        if rule.min_samples and n < rule.min_samples:
            trace.status = "not-applicable"
            trace.why_not = f"needs at least {rule.min_samples} samples with a call chain; this capture has {n}"
            return trace, None
        values: dict[str, Any] = {}
        measured: dict[str, Measured] = {}
        results: dict[str, list[bool | None]] = {"when": [], "any": [], "none": [], "measure": []}
        first_fail: ConditionTrace | None = None
        for group, conds in (("when", rule.when), ("any", rule.any), ("none", rule.none), ("measure", rule.measure)):
            for c in conds:
                got = self.measure(c)
                threshold = self.resolve(c.threshold, rule)
                passed = self.compare(got.value, c.op, threshold, c.measure)
                ct = ConditionTrace(group, describe(c), c.name, got.value, c.op, threshold, passed,
                                    got.note if got.value is None else None, c.line,
                                    got.subject if c.measure == "dominator" else None)
                trace.conditions.append(ct)
                results[group].append(passed)
                if c.name:
                    values[c.name] = got.value
                    measured[c.name] = got
                failed = (group in ("when", "any") and passed is not True) or (group == "none" and passed is True)
                if failed and first_fail is None and group != "any":
                    first_fail = ct
        when_ok = all(p is True for p in results["when"])
        any_ok = not results["any"] or any(p is True for p in results["any"])
        none_ok = all(p is not True for p in results["none"])
        if not (when_ok and any_ok and none_ok):
            definite = next((c for c in trace.conditions
                             if (c.group == "when" and c.passed is False) or (c.group == "none" and c.passed)), None)
            unknown = next((c for c in trace.conditions if c.group == "when" and c.passed is None), None)
            if definite is not None:
                trace.why_not = why_not(definite)
            elif unknown is not None:
                trace.status = "not-applicable"
                trace.why_not = f"{unknown.measure}: {unknown.reason or 'could not be measured or compared'}"
            elif first_fail is not None:
                trace.why_not = why_not(first_fail)
            else:
                trace.why_not = "none of the `any` conditions holds: " + "; ".join(
                    c.text() for c in trace.conditions if c.group == "any")
            self.measured[rule.id] = measured
            return trace, None
        finding = self.finding(rule, values, measured, trace)
        trace.status, trace.score, trace.severity = "fired", finding.score, finding.severity
        for f in rule.derive:
            self.facts[f] = True
            trace.derived.append(f)
        self.fired[rule.id] = finding
        self.measured[rule.id] = measured
        return trace, finding

    def primary(self, rule: Rule) -> Condition | None:
        name = rule.score.get("value")
        for c in (*rule.when, *rule.measure):
            if name and c.name == name:
                return c
        return next((c for c in rule.when if c.measure in SHARE_MEASURES + SELECTOR_MEASURES), None)

    def finding(self, rule: Rule, values: dict[str, Any], measured: dict[str, Measured], trace: RuleTrace) -> Finding:
        n = self.profile.stack_samples
        prim = self.primary(rule)
        pm = measured.get(prim.name) if prim is not None and prim.name else None
        primary_value = as_number(pm.value) if pm is not None else None
        if rule.score:
            v = as_number(values.get(rule.score["value"])) or 0.0
            info = float(self.resolve(rule.score["info"], rule))
            warn = float(self.resolve(rule.score.get("warn", info * 2), rule))
            score = score_curve(v, info, warn)
        else:
            v, score = (primary_value or 0.0), 75.0
        is_share = prim is not None and prim.measure in SHARE_MEASURES
        threshold = 0.0
        if prim is not None and prim.op in ("gte", "gt"):
            threshold = float(as_number(self.resolve(prim.threshold, rule)) or 0.0)
        conf = confidence(v, threshold, n) if is_share else (1.0 if n >= MIN_SAMPLES else n / MIN_SAMPLES)
        if prim is not None and prim.measure == "env":
            conf = 1.0  # counted by the kernel over the recording (drops from /proc), not sampled
        cap = self.profile.capture
        busy = next((c for c in rule.when if c.measure == "cores_used" and c.op in ("lt", "lte", "gt", "gte")), None)
        if prim is None and busy is not None and cap.frequency_hz and cap.duration_s:
            # CPU cores counted over the whole recording: sure from the sample count over the
            # duration (0 samples in 5 s at 99 Hz is surely idle), not from the call chains.
            conf = cores_confidence(self.profile.total_samples, float(as_number(self.resolve(busy.threshold, rule)) or 0.0),
                                    str(busy.op), cap.frequency_hz, cap.duration_s)
        inferred = [m for m in measured.values() if m.inferred]
        if inferred:
            conf *= INFERRED_CONFIDENCE
        subject = None
        if rule.subject:
            subject = rule.subject[1:] if rule.subject.startswith("=") else (
                measured[rule.subject].subject if rule.subject in measured else None)
            subject = refine_subject(subject, self.env, self.profile)
        tvalues = dict(values)
        tvalues.update({"subject": subject, "samples": n,
                        "cores": cores_used(self.profile.total_samples, self.profile.capture.frequency_hz,
                                            self.profile.capture.duration_s)})
        summary = {lang: fill(rule.summary.get(lang) or rule.summary["en"], tvalues, lang) for lang in LANGS}
        explanation = {lang: fill(rule.explanation.get(lang) or rule.explanation.get("en", ""), tvalues, lang)
                       for lang in LANGS} if rule.explanation else {}
        shown_share: float | None = None  # the finding's own share of the samples (null: not from samples)
        if is_share:
            share = shown_share = primary_value or 0.0
        elif pm is not None and isinstance(pm.samples, (int, float)) and n:
            share = shown_share = pm.samples / n  # cores and sample counts: the samples behind them
        else:
            share = 0.0
        total_cores = cores_used(self.profile.total_samples, cap.frequency_hz, cap.duration_s)
        # Capture-quality notes (too few samples, missing symbols) save no CPU: they rank last.
        gain = 0.0 if "capture-quality" in rule.tags else float(share) * (total_cores if total_cores else 1.0)
        evidence, frames = ({}, []) if rule.id in self.brief else \
            finding_evidence(self.profile, self.kb, self.m, rule, prim, pm)
        recs, satisfied, withheld = [], [], []
        processes = processes_of(self.profile, pm.by_thread if pm is not None else None)
        platform = self.platforms.of(rule.recommend, processes)
        for rid in () if rule.id in self.brief else rule.recommend:
            known = self.kb.recommendations[rid]
            scoped = platform is not self.platform and self.platforms.scoped(known.requires)
            status, stack, reason = judge(known, self.kb, platform,
                                          f"{processes[0]['comm']} {processes[0]['pid']}" if scoped else None)
            if status != OFFER:
                withheld.append(withheld_entry(rid, known.title, status, reason))  # type: ignore[arg-type]
                continue
            rec = concrete(known, self.kb, self.env, stack=stack)
            if rec["status"] == "already-satisfied":
                satisfied.append(rec)
                withheld.append(withheld_entry(rid, {lang: t["title"] for lang, t in rec["texts"].items()}, IN_EFFECT,
                                               set_already(rec["key"], rec["current"])))
            else:
                recs.append(rec)
        not_helpful = []
        for nh in () if rule.id in self.brief else rule.not_helpful:
            rec = concrete(self.kb.recommendations[nh.id], self.kb, self.env, why_here=nh.why)
            rec["status"] = "not-helpful"
            rec["why_not_helpful"] = nh.why.get("en", "")
            not_helpful.append(rec)
        values_out = {k: _json(v) for k, v in values.items()}
        values_out["stack_samples"] = n
        if inferred:
            values_out["confidence_lowered"] = inferred[0].note or "read from wrapper frames only"
        f = Finding(id=rule.id, title=rule.title, severity=severity_for(score, rule.severity), score=score,
                    confidence=conf, summary=summary, explanation=explanation, subject=subject,
                    values=values_out, evidence=evidence, recommendations=recs, not_helpful=not_helpful,
                    explains=list(rule.explains), tags=list(rule.tags), frames=frames, gain=gain,
                    rule_source=rule.source, share=shown_share)
        if satisfied:
            f.evidence["already_satisfied"] = satisfied
        f.withheld = withheld
        # Several processes: whose samples these are, and advice for a program names it.
        if pm is not None and pm.by_thread:
            f.samples = _count(sum(pm.by_thread.values()))
        f.processes = processes
        name_processes(f.recommendations, f.processes)
        return f

    def primary_measured(self, rid: str) -> Measured | None:
        rule = self.ruleset.by_id(rid)
        prim = self.primary(rule) if rule is not None else None
        if prim is None or not prim.name:
            return None
        return self.measured.get(rid, {}).get(prim.name)

    def link_explanations(self, findings: list[Finding]) -> None:
        """A specific finding explains a generic one when the generic one's samples are mostly
        on threads where the specific one holds a fair part of them."""
        by_id = {f.id: f for f in findings}

        def explains_already(a: Finding, b: Finding) -> bool:
            """Is b among the findings a is (transitively) explained by?"""
            seen = set()
            while a.explained_by is not None and a.explained_by not in seen:
                if a.explained_by == b.id:
                    return True
                seen.add(a.explained_by)
                a = by_id.get(a.explained_by, a)
            return False

        for spec in findings:
            for gid in spec.explains:
                gen = by_id.get(gid)
                if gen is None or gen is spec or gen.explained_by is not None or explains_already(spec, gen):
                    continue
                ps, pg = self.primary_measured(spec.id), self.primary_measured(gid)
                if not ps or not pg or not ps.by_thread or not pg.by_thread:
                    continue
                total = sum(pg.by_thread.values())
                covered = sum(k for t, k in pg.by_thread.items() if ps.by_thread.get(t, 0) >= 0.2 * k)
                if total and covered / total >= 0.5:
                    gen.explained_by = spec.id
                    # The cause carries the cost it explains: rate and rank it at least as high.
                    if SEVERITIES.index(gen.severity) > SEVERITIES.index(spec.severity):
                        spec.values["severity_from"] = gen.id
                        spec.severity = gen.severity
                    if gen.score > spec.score:
                        spec.values["score_from"] = gen.id
                        spec.score = gen.score
                    spec.gain = max(spec.gain, gen.gain)


def evaluate(profile: Profile, ruleset: RuleSet, kb: Knowledge, brief: Collection[str] = ()) -> Evaluation:
    """The rules run on the profile. A rule in `brief` that fires gives a finding without
    evidence nor advice (its rating, measures and links to other findings are whole): for a
    caller that only needs to know it fired (per_process, for rules the merged capture fired)."""
    run = _Run(profile, ruleset, kb, brief)
    traces: list[RuleTrace] = []
    findings: list[Finding] = []
    for rule in ruleset.rules:
        trace, finding = run.evaluate(rule)
        traces.append(trace)
        if finding is not None:
            findings.append(finding)
    notes = list(ruleset.notes)
    n = profile.stack_samples
    cap = profile.capture
    total_cores = cores_used(profile.total_samples, cap.frequency_hz, cap.duration_s)
    cap_reason = None
    idle = total_cores is not None and total_cores < IDLE_CORES
    if idle:  # first: few samples of an idle process are its idleness, not a short recording
        cap_reason = (f"the recorded processes used {total_cores:.3f} CPU cores on average: they were essentially idle, "
                      f"so no finding from the samples is rated above info")
    elif n < MIN_SAMPLES:
        cap_reason = (f"only {n} samples with a call chain (fewer than {MIN_SAMPLES}): shares are too uncertain to rate "
                      f"any finding from them above info; record longer or at a higher frequency")
    run.link_explanations(findings)
    if cap_reason:
        capped = False
        for f in findings:
            if f.severity != "info" and not _counted_outside_samples(run, f):
                f.capped = cap_reason
                f.severity = "info"
                capped = True
        if capped or not idle:  # idle and nothing capped: the idle-process finding says it all
            notes.append(cap_reason)
    return Evaluation(rank(findings), traces, run.facts, notes, len(ruleset.rules), run.platform)


def _counted_outside_samples(run: _Run, f: Finding) -> bool:
    """A finding rated by a value measured beside the stacks (datagrams dropped, from /proc) is as
    sure with few samples or an idle process as with many: the sample-count cap is not for it."""
    rule = run.ruleset.by_id(f.id)
    prim = run.primary(rule) if rule is not None else None
    return prim is not None and prim.measure == "env"


__all__ = ["Evaluation", "evaluate", "MIN_SAMPLES", "fmt_value"]
