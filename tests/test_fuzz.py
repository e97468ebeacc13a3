"""Property-based fuzzing of every parser a user's file reaches: perf script text, folded stacks
(plain, annotated, py-spy), rule packs (YAML text), saved JSON reports (`diagnose explain`) and
capture folders (manifest.json, environment.json).

The property is the project's promise about input: either the result is sound (a profile whose
counts add up, a pack that loads and evaluates, an explanation that renders) or the failure is
a DiagnoseError, one line for the user. Any other exception is a bug. The parsers are called in
this process, for speed; a few examples also go through the command line.

Runs are reproducible (derandomize: the same examples every time) and bounded (max_examples),
so that `make test` stays fast on a small machine; DIAGNOSE_FUZZ_SCALE=10 hunts longer. Each
bug the fuzzer found has a plain regression test beside the fix (test_bad_input.py,
test_hostile_packs.py, test_explain.py).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import fixture, run_cli
from diagnose.errors import DiagnoseError
from diagnose.profile import Profile

# DIAGNOSE_FUZZ_SCALE=10 tries ten times as many examples (a longer hunt, by hand).
SCALE = float(os.environ.get("DIAGNOSE_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


FUZZ = settings(max_examples=examples(100), deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it refused the input with a DiagnoseError, which must be
    one non-empty line. Any other exception propagates: the test fails."""
    try:
        return call()
    except DiagnoseError as exc:
        text = str(exc)
        assert text.strip() and "\n" not in text, repr(text)
        return None


def load(data: bytes, name: str = "input") -> Profile | None:
    """Read `data` the way `diagnose analyze FILE` does (format told from the content)."""
    from diagnose.pipeline import load_profile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        profile = outcome(lambda: load_profile(path, jobs=1))
    if profile is not None:
        profile.check()
        assert profile.capture.total_samples == sum(s.samples for s in profile.stacks)
        assert profile.stack_samples <= profile.capture.total_samples
        assert all(f.name is not None for f in profile.frames)
    return profile


# -- byte-level mutations, shared by every format ------------------------------------------------

NASTY = [b"\x00", b"\r", b"\n", b"\n\n", b" ", b"\t", b";", b":", b"#", b"(", b")", b"[", b"]", b"/", b".",
         b"9" * 400, b"9" * 5000, b"\xff\xfe", "é".encode(), b"-", b"+0x", b"0x", b"_[k]", b"{", b"}", b"&a", b"*a",
         b"'", b'"', b"\\", b"18446744073709551616"]


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """`base` with a few random edits: cuts, insertions of nasty bytes, deletions, duplications."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "cut"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(NASTY) | st.binary(max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "duplicate":
            n = draw(st.integers(1, 200))
            data[at:at] = data[at:at + n]
        elif op == "cut":
            del data[at:]
    return bytes(data)


@st.composite
def packaged(draw: st.DrawFn, text: bytes) -> bytes:
    """The text as is, gzip-compressed, or gzip cut short."""
    how = draw(st.sampled_from(["plain", "plain", "gzip", "gzip-cut"]))
    if how == "plain":
        return text
    z = gzip.compress(text, mtime=0)
    if how == "gzip":
        return z
    return z[: draw(st.integers(1, max(1, len(z) - 1)))]


# -- perf script text ----------------------------------------------------------------------------

COMMS = ["app", "worker_thread", "Web Content", "kworker/0:1", "rtc-low-prio", "python3", "a 12", "x-1/2", "[pid 3]"]
EVENTS = ["cpu-clock:ppp", "cpu-clock", "cycles", "task-clock:u", "instructions", "sched:sched_switch",
          "cpu_core/cycles/u"]
SYMBOLS = ["main", "work+0x4", "[unknown]", "foo(int)", "std::vector<int>::push_back(int const&)+0x1f",
           "A->B", "operator new", "__libc_recvmsg", "entry_SYSCALL_64_after_hwframe", "x" * 300, "Ω"]
DSOS = ["/usr/bin/app", "[kernel.kallsyms]", "[unknown]", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/memfd:jit (deleted)",
        "/opt/My App/lib.so", "inlined", "[vdso]", "nf_conntrack.ko"]


def _address(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["7f0000001000", "ffffffff81000000", "1348", "0", "deadbeef" * 3]))


@st.composite
def perf_sample(draw: st.DrawFn, clean: bool) -> tuple[str, str]:
    """One sample as perf script prints it, and its event."""
    comm = draw(st.sampled_from(COMMS[:6] if clean else COMMS))
    tid = draw(st.integers(0, 4_194_304))
    who = f"{draw(st.integers(0, 4_194_304))}/{tid}" if draw(st.booleans()) else str(tid)
    if not clean:
        who = draw(st.sampled_from([who, "9" * 5000, f"{'9' * 30}/1", "1/" + "9" * 400]))
    parts = [comm, who]
    if draw(st.booleans()):
        parts.append(f"[{draw(st.integers(0, 255)):03d}]")
    if clean or draw(st.booleans()):
        t = draw(st.floats(0, 1e6, allow_nan=False))
        parts.append(f"{t:.6f}:" if clean or draw(st.booleans()) else draw(st.sampled_from(["9" * 400 + ".5:", "1.0:"])))
    if draw(st.booleans()):
        period = draw(st.integers(0, (1 << 64) - 1))
        parts.append(str(period) if clean else draw(st.sampled_from([str(period), "9" * 5000, str(1 << 64)])))
    event = draw(st.sampled_from(EVENTS))
    parts.append(event + ":")
    head = " ".join(parts)
    frames = draw(st.lists(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(DSOS)), min_size=1 if clean else 0,
                           max_size=8))
    body = "".join(f"\n\t{' ' * draw(st.integers(0, 12))}{_address(draw)} {s} ({d})" for s, d in frames)
    return head + " " + body + "\n\n", event


HEADER = ("# ========\n# captured on    : Wed Nov 25 22:13:17 2026\n# hostname : vm\n# perf version : 6.1.187\n"
          "# nrcpus online : 2\n# cmdline : /usr/bin/perf record -F 99 -g -p 8813 -- sleep 10 \n"
          "# event : name = cpu-clock:ppp, , id = { 448 }, type = 1, size = 128, "
          "{ sample_period, sample_freq } = 99, sample_type = IP|TID|TIME|CALLCHAIN|PERIOD\n"
          "# time of first sample : 3905.883712\n# time of last sample : 3915.873354\n"
          "# sample duration :   9989.642 ms\n# ========\n#\n")


ODD_NUMBERS = ["9" * 400, "9" * 400 + ".5", "0", "-5", "nan", "inf", "1e400", "0.000001", "18446744073709551616", ""]


@st.composite
def perf_header(draw: st.DrawFn, clean: bool) -> str:
    """perf's header, with odd numbers where it states the frequency, duration, pids, cpus."""
    if clean:
        return HEADER
    header = HEADER
    for old in ("= 99", "sleep 10", "-p 8813", "online : 2", "sample : 3905.883712", "sample : 3915.873354"):
        if draw(st.booleans()):
            odd = draw(st.sampled_from(ODD_NUMBERS))
            header = header.replace(old, old.rsplit(" ", 1)[0] + " " + odd)
    return header


@st.composite
def perf_script_text(draw: st.DrawFn, clean: bool) -> tuple[bytes, list[str]]:
    samples = draw(st.lists(perf_sample(clean), min_size=1, max_size=12))
    header = draw(perf_header(clean)) if draw(st.booleans()) else ""
    return (header + "".join(s for s, _ in samples)).encode(), [e for _, e in samples]


@FUZZ
@given(perf_script_text(clean=True))
def test_clean_perf_script_text_counts_every_sample(case: tuple[bytes, list[str]]) -> None:
    text, events = case
    profile = load(text)
    assert profile is not None
    chosen = profile.capture.event
    assert profile.capture.total_samples == sum(1 for e in events if e == chosen)


@FUZZ
@given(st.data())
def test_perf_script_text_is_read_or_refused_in_one_line(data: st.DataObject) -> None:
    text, _ = data.draw(perf_script_text(clean=False))
    load(data.draw(packaged(data.draw(mutated(text)))))


@lru_cache(maxsize=1)
def builtin_rules() -> Any:
    from diagnose.knowledge import builtin_knowledge
    from diagnose.rules import load_packs

    return load_packs(None, builtin_knowledge(), use_env=False)


def report_of(profile: Profile) -> dict[str, Any]:
    """The whole analysis of a profile (call graph, summaries, the built-in rules), as the JSON
    report, which must be valid JSON (no NaN or Infinity), and the Markdown report."""
    from diagnose.analysis import Analysis
    from diagnose.callgraph import build_call_graph
    from diagnose.engine import evaluate
    from diagnose.knowledge import builtin_knowledge
    from diagnose.report.json_report import report_dict
    from diagnose.report.render import render
    from diagnose.summary import summarize

    kb, ruleset = builtin_knowledge(), builtin_rules()
    graph = build_call_graph(profile)
    analysis = Analysis(profile=profile, graph=graph, summary=summarize(profile, graph), lang="en")
    evaluation = evaluate(profile, ruleset, kb)
    analysis.knowledge, analysis.ruleset, analysis.evaluation = kb, ruleset, evaluation
    analysis.findings = evaluation.findings
    report = json.loads(json.dumps(report_dict(analysis), allow_nan=False))
    assert isinstance(render(analysis, "markdown", to_terminal=False), str)
    return report


@settings(FUZZ, max_examples=examples(40))
@given(st.data())
def test_odd_perf_script_text_that_is_read_gives_a_valid_report(data: st.DataObject) -> None:
    text, _ = data.draw(perf_script_text(clean=False))
    profile = load(data.draw(mutated(text)))
    if profile is not None:
        report = report_of(profile)
        assert report["capture"]["total_samples"] == profile.capture.total_samples


# -- folded stacks -------------------------------------------------------------------------------

FOLDED_FRAMES = ["main", "work", "__libc_recvmsg_[k]", "do_syscall_64_[k]", "Interpreter_[i]", "JIT_[j]", "[libvpx.so.9]",
                 "[unknown]", "std::map<int, int>::find", "x y z", "Ω"]
PYSPY_FRAMES = ["<module> (udp_sender.py:69)", "main (udp_sender.py:54)", "sock_sendto (socketmodule.c:4367)",
                "0x7f7ebc44524a (libc.so.6)", "run (threading.py:975)"]
ROOTS = ["app", "app-1234", "app-1234/1240", "app-?/77", "process 123:\"python x.py\"", "thread (0x7f3a)",
         "thread (0123): MainThread"]


@st.composite
def folded_line(draw: st.DrawFn, clean: bool, pyspy: bool) -> tuple[str, int]:
    frames = draw(st.lists(st.sampled_from(PYSPY_FRAMES if pyspy else FOLDED_FRAMES), min_size=1, max_size=10))
    root = draw(st.sampled_from(ROOTS))
    count = draw(st.integers(1, 10**6))
    shown = str(count)
    if not clean:
        shown = draw(st.sampled_from([shown, f"{count}.", f"{count}.5", f"{count} {count + 1}", "9" * 5000,
                                      "9" * 400 + ".5", "0" * 40 + "3", "1" + "0" * 29, "-3", "1e5"]))
    return f"{root};{';'.join(frames)} {shown}\n", count


@st.composite
def folded_text(draw: st.DrawFn, clean: bool) -> tuple[bytes, int]:
    pyspy = draw(st.booleans())
    lines = draw(st.lists(folded_line(clean, pyspy), min_size=1, max_size=15))
    comment = "# generated\n" if draw(st.booleans()) else ""
    return (comment + "".join(t for t, _ in lines)).encode(), sum(c for _, c in lines)


@FUZZ
@given(folded_text(clean=True))
def test_clean_folded_stacks_count_every_sample(case: tuple[bytes, int]) -> None:
    text, total = case
    profile = load(text)
    assert profile is not None
    assert profile.capture.total_samples == total


@FUZZ
@given(st.data())
def test_folded_stacks_are_read_or_refused_in_one_line(data: st.DataObject) -> None:
    text, _ = data.draw(folded_text(clean=False))
    load(data.draw(packaged(data.draw(mutated(text)))))


@settings(FUZZ, max_examples=examples(40))
@given(st.data())
def test_odd_folded_stacks_that_are_read_give_a_valid_report(data: st.DataObject) -> None:
    text, _ = data.draw(folded_text(clean=False))
    profile = load(data.draw(mutated(text)))
    if profile is not None:
        report = report_of(profile)
        assert report["capture"]["total_samples"] == profile.capture.total_samples


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused_in_one_line(blob: bytes) -> None:
    load(blob)


# -- rule packs ----------------------------------------------------------------------------------

PACK = """schema: diagnose.rules/v1
pack: {name: fuzz, version: 1.0.0, engine: '>=1.0'}
rules:
  - id: fuzz-recv
    title: {en: recv is hot, zh: recv 很热}
    severity: medium
    tags: [fuzz]
    params: {info: 0.05, warn: 0.3}
    when:
      - {as: share, inclusive_share: {symbol: "__libc_recvfrom|recv.*"}, gte: $info}
    measure:
      - {as: calls, syscall_share: {calls: "recv.*", to: {category: [udp-receive]}}}
    score: {value: share, info: $info, warn: $warn}
    summary: {en: "recv takes {share:pct}", zh: "recv 占 {share:pct}"}
    evidence: {stacks: 2, functions: 3, selector: {category: udp-receive}}
    recommend: [code.recvmmsg]
    derive: [recv-seen]
  - id: fuzz-chain
    title: chained
    severity: low
    when:
      - {fact: recv-seen}
      - {fired: fuzz-recv}
      - {as: top, top_category: {component: [network-io]}}
    none:
      - {env: sysctl.net.core.rmem_max, gte: 1000}
    subject: top
    summary: "{top}"
override:
  - {rule: fuzz-recv, params: {warn: 0.4}, severity: high}
disable: [tag:nothing]
"""


@lru_cache(maxsize=1)
def engine_inputs() -> tuple[Any, Profile]:
    from diagnose.knowledge import builtin_knowledge
    from diagnose.pipeline import load_profile

    return builtin_knowledge(), load_profile(str(fixture("iperf3-udp-recv.perf.txt.gz")), jobs=1)


def load_and_evaluate_pack(text: str) -> None:
    from diagnose.engine import evaluate
    from diagnose.rules import merge_packs, parse_pack
    from diagnose.yamlfile import load_yaml_text

    kb, profile = engine_inputs()

    def run() -> None:
        pack = parse_pack(load_yaml_text(text, "fuzz.yaml"), kb)
        evaluation = evaluate(profile, merge_packs([pack]), kb)
        json.dumps(evaluation.to_dict(), allow_nan=False)

    outcome(run)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["$info", "$nope", "{share:pct}", "{x", "udp-receive", "gte", ".*", "(a+)+"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _paths(value: Any, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


@st.composite
def structurally_mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` (JSON-like data) with a few subtrees replaced by random values, or removed."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return doc


PACK_DATA = yaml.safe_load(PACK)


def test_the_fuzzed_pack_is_valid_to_begin_with() -> None:
    from diagnose.engine import evaluate
    from diagnose.rules import merge_packs, parse_pack
    from diagnose.yamlfile import load_yaml_text

    kb, profile = engine_inputs()
    evaluation = evaluate(profile, merge_packs([parse_pack(load_yaml_text(PACK, "fuzz.yaml"), kb)]), kb)
    assert {t.id for t in evaluation.trace} == {"fuzz-recv", "fuzz-chain"}


@settings(FUZZ, max_examples=examples(150))
@given(structurally_mutated(PACK_DATA))
def test_rule_packs_with_odd_values_load_or_are_refused_in_one_line(doc: Any) -> None:
    load_and_evaluate_pack(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(mutated(PACK.encode()))
def test_rule_pack_text_loads_or_is_refused_in_one_line(text: bytes) -> None:
    load_and_evaluate_pack(text.decode("utf-8", "replace"))


# -- saved JSON reports (diagnose explain) ---------------------------------------------------------

@lru_cache(maxsize=1)
def saved_report() -> dict[str, Any]:
    from diagnose.pipeline import analyze
    from diagnose.report.json_report import report_dict

    return json.loads(json.dumps(report_dict(analyze(str(fixture("iperf3-udp-recv.perf.txt.gz")), jobs=1))))


def explain(raw: bytes, finding: str | None, rule: str | None) -> None:
    from diagnose.report.explain_view import load_report, render_explain

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "report.json")
        with open(path, "wb") as f:
            f.write(raw)

        def run() -> None:
            data = load_report(path)
            assert isinstance(render_explain(data, finding, rule, "en", 100, False), str)

        outcome(run)


def _targets(report: dict[str, Any]) -> st.SearchStrategy[tuple[str | None, str | None]]:
    findings = [f["id"] for f in report["findings"]]
    rules = [r["id"] for r in report["evaluation"]["rules"]]
    return st.tuples(st.none(), st.none()) | st.tuples(st.sampled_from(findings), st.none()) \
        | st.tuples(st.none(), st.sampled_from(rules))


def test_the_fuzzed_report_explains_to_begin_with() -> None:
    report = saved_report()
    assert report["findings"], "the report fuzzed below needs findings to explain"
    raw = json.dumps(report).encode()
    for f in report["findings"]:
        explain(raw, f["id"], None)


@settings(FUZZ, max_examples=examples(50))
@given(st.data())
def test_saved_reports_with_odd_values_explain_or_are_refused_in_one_line(data: st.DataObject) -> None:
    report = saved_report()
    doc = data.draw(structurally_mutated(report))
    finding, rule = data.draw(_targets(report))
    explain(json.dumps(doc).encode(), finding, rule)


@settings(FUZZ, max_examples=examples(50))
@given(st.data())
def test_saved_report_text_explains_or_is_refused_in_one_line(data: st.DataObject) -> None:
    report = saved_report()
    raw = json.dumps(report, indent=1).encode()
    finding, rule = data.draw(_targets(report))
    explain(data.draw(mutated(raw)), finding, rule)


# -- a few through the command line ----------------------------------------------------------------

CLI_CASES = {
    "perf-script-5000-digit-period": ("capture.txt", ("analyze",),
                                      b"app 1/1 [000] 1.000000: " + b"9" * 5000 + b" cpu-clock:ppp: \n\t 7f00 main (/a)\n\n"),
    "folded-5000-digit-count": ("s.folded", ("collapse",), b"app;main " + b"9" * 5000 + b"\n"),
    "rule-pack-alias-bomb": ("pack.yaml", ("rules", "validate"),
                             b"a: &a [x,x,x,x,x,x,x,x,x]\n" + b"".join(
                                 b"%s: &%s [%s]\n" % (n, n, b",".join([b"*" + p] * 9))
                                 for p, n in zip([b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"],
                                                 [b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i"]))),
    "explain-not-json": ("report.json", ("explain",), b'{"schema": "diagnose.report/v1", "findings": [' * 50),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_fuzzed_inputs_through_the_command_line(tmp_path: Path, case: str) -> None:
    name, cmd, data = CLI_CASES[case]
    p = tmp_path / name
    p.write_bytes(data)
    proc = run_cli(*cmd, str(p), timeout=120)
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        assert proc.returncode == 2
        assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr


# -- capture folders: manifest.json and environment.json -------------------------------------------

LAB_FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "lab" / "pion-p2p"


@lru_cache(maxsize=1)
def folder_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    return (json.loads((LAB_FOLDER / "manifest.json").read_text()),
            json.loads((LAB_FOLDER / "environment.json").read_text()))


def analyse_folder(manifest: Any, environment: Any) -> None:
    """A copy of a real run folder with these documents, analysed and reported as `diagnose analyze
    FOLDER` does (terminal, Markdown, JSON). environment.json's size and checksum are written into
    the manifest when it lists the file, so that the mutated values themselves are read."""
    import hashlib
    import shutil

    from diagnose.pipeline import analyze
    from diagnose.report.json_report import render_json
    from diagnose.report.markdown import render_markdown
    from diagnose.report.terminal import render_terminal

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "run"
        shutil.copytree(LAB_FOLDER, folder)
        env_raw = json.dumps(environment).encode()
        (folder / "environment.json").write_bytes(env_raw)
        files = manifest.get("files") if isinstance(manifest, dict) else None
        for entry in files if isinstance(files, list) else []:
            if isinstance(entry, dict) and entry.get("path") == "environment.json":
                entry["bytes"], entry["sha256"] = len(env_raw), hashlib.sha256(env_raw).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
        analysis = outcome(lambda: analyze(str(folder), jobs=1))
        if analysis is None:
            return
        analysis.profile.check()
        json.loads(render_json(analysis))
        assert render_terminal(analysis, width=100)
        assert render_markdown(analysis)


def test_the_fuzzed_capture_folder_is_analysed_to_begin_with() -> None:
    manifest, environment = folder_documents()
    analyse_folder(copy.deepcopy(manifest), copy.deepcopy(environment))


@settings(FUZZ, max_examples=examples(40))
@given(st.data())
def test_capture_manifests_with_odd_values_are_analysed_or_refused_in_one_line(data: st.DataObject) -> None:
    manifest, environment = folder_documents()
    analyse_folder(data.draw(structurally_mutated(manifest)), copy.deepcopy(environment))


@settings(FUZZ, max_examples=examples(40))
@given(st.data())
def test_capture_environments_with_odd_values_are_analysed_or_refused_in_one_line(data: st.DataObject) -> None:
    manifest, environment = folder_documents()
    analyse_folder(copy.deepcopy(manifest), data.draw(structurally_mutated(environment)))
