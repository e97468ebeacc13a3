"""Custom rule packs: adding, overriding and disabling rules, chaining facts, and clear errors
(file and line) for packs that cannot be used. Packs are data: no pattern can hang the engine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import assert_one_line_error, fixture, run_cli

HEADER = "schema: diagnose.rules/v1\npack: {name: team, version: 1.0.0, engine: '>=1.0'}\n"


def pack(tmp_path: Path, body: str, name: str = "team.yaml") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + body)
    return p


def findings(proc) -> dict[str, dict]:
    assert proc.returncode == 0, proc.stderr
    return {f["id"]: f for f in json.loads(proc.stdout)["findings"]}


def trace(proc) -> dict[str, dict]:
    return {r["id"]: r for r in json.loads(proc.stdout)["evaluation"]["rules"]}


CUSTOM = """rules:
  - id: team-recvfrom-hot
    title: {en: recvfrom is hot, zh: recvfrom 很热}
    severity: medium
    params: {info: 0.05}
    when:
      - {as: share, inclusive_share: {symbol: "__libc_recvfrom|__libc_recv|recvfrom"}, gte: $info}
    score: {value: share, info: $info, warn: 0.3}
    summary: {en: "recvfrom takes {share:pct}", zh: "recvfrom 占 {share:pct}"}
    recommend: [code.recvmmsg, investigate.syscall-counts]
"""


def test_a_custom_pack_adds_a_rule(tmp_path: Path) -> None:
    p = pack(tmp_path, CUSTOM)
    got = findings(run_cli("analyze", str(fixture("socat-unix-ipc.perf.txt.gz")), "--format", "json", "--rules", str(p)))
    assert "team-recvfrom-hot" in got
    assert got["team-recvfrom-hot"]["summary"].startswith("recvfrom takes ")
    assert [r["id"] for r in got["team-recvfrom-hot"]["recommendations"]] == ["investigate.syscall-counts"]
    # socat's recvfrom reads a Unix socket: batching UDP reads is withheld, and the report says why.
    withheld = {w["id"]: w for w in got["team-recvfrom-hot"]["withheld"]}
    assert withheld["code.recvmmsg"]["status"] == "needs-evidence"
    assert "The process receives UDP datagrams" in withheld["code.recvmmsg"]["why"]


def test_the_default_search_path_comes_from_the_environment(tmp_path: Path) -> None:
    pack(tmp_path, CUSTOM)
    proc = run_cli("analyze", str(fixture("socat-unix-ipc.perf.txt.gz")), "--format", "json",
                   env={"DIAGNOSE_RULES_PATH": str(tmp_path)})
    assert "team-recvfrom-hot" in findings(proc)


def test_override_changes_thresholds_and_disable_switches_off(tmp_path: Path) -> None:
    cap = str(fixture("iperf3-udp-recv.perf.txt.gz"))
    base = findings(run_cli("analyze", cap, "--format", "json"))
    assert "udp-receive-heavy" in base and "poll-wakeup-heavy" in base
    p = pack(tmp_path, "override:\n  - {rule: udp-receive-heavy, params: {info: 0.5}}\n"
                       "disable: [poll-*, 'tag:capture-quality']\n")
    proc = run_cli("analyze", cap, "--format", "json", "--rules", str(p))
    got, tr = findings(proc), trace(proc)
    assert "udp-receive-heavy" not in got
    assert "short by" in tr["udp-receive-heavy"]["why_not"]
    assert tr["poll-wakeup-heavy"]["status"] == "disabled"
    assert tr["unknown-frames"]["status"] == "disabled"


def test_a_rule_with_a_builtin_id_replaces_it(tmp_path: Path) -> None:
    p = pack(tmp_path, CUSTOM.replace("team-recvfrom-hot", "codec-hot"))
    proc = run_cli("analyze", str(fixture("socat-unix-ipc.perf.txt.gz")), "--format", "json", "--rules", str(p))
    got = findings(proc)
    assert got["codec-hot"]["title"] == "recvfrom is hot"
    assert "replaces the one from pack webrtc" in proc.stderr


def test_facts_chain_from_one_rule_to_the_next(tmp_path: Path) -> None:
    p = pack(tmp_path, """rules:
  - id: team-ipc-follow-up
    title: {en: IPC follow-up, zh: 进程间通信后续}
    severity: low
    when:
      - {fact: ipc-bound}
      - {fired: syscall-heavy}
    summary: {en: "the process is bound by IPC", zh: "进程受限于进程间通信"}
""")
    ipc = findings(run_cli("analyze", str(fixture("socat-unix-ipc.perf.txt.gz")), "--format", "json", "--rules", str(p)))
    assert "team-ipc-follow-up" in ipc
    proc = run_cli("analyze", str(fixture("stress-ng-memcpy.perf.txt.gz")), "--format", "json", "--rules", str(p))
    assert "team-ipc-follow-up" not in findings(proc)
    assert "fact(ipc-bound)" in trace(proc)["team-ipc-follow-up"]["why_not"]


def test_environment_facts_that_were_not_recorded_make_a_rule_not_applicable(tmp_path: Path) -> None:
    p = pack(tmp_path, """rules:
  - id: team-small-rmem
    title: {en: small rmem_max, zh: rmem_max 太小}
    severity: low
    when:
      - {as: rmem, env: sysctl.net.core.rmem_max, lt: 1000000}
    summary: {en: "rmem_max is {rmem}", zh: "rmem_max 为 {rmem}"}
""")
    proc = run_cli("analyze", str(fixture("iperf3-udp-recv.perf.txt.gz")), "--format", "json", "--rules", str(p))
    t = trace(proc)["team-small-rmem"]
    assert t["status"] == "not-applicable" and "not recorded" in t["why_not"]


BROKEN = {
    "bad-yaml": ("rules:\n  - id: x\n   title: y\n", "not valid YAML"),
    "unknown-field": (CUSTOM.replace("severity: medium", "severty: medium"), "unknown rule field"),
    "unknown-knowledge-id": (CUSTOM.replace("code.recvmmsg", "code.recvmmmsg"), "unknown knowledge id"),
    "bad-regex": (CUSTOM.replace("__libc_recvfrom|__libc_recv|recvfrom", "recv(from"), "not a valid regular expression"),
    "backtracking-pattern": (CUSTOM.replace("__libc_recvfrom|__libc_recv|recvfrom", "(recv+)+from"),
                             "nested repetition"),
    "look-around": (CUSTOM.replace("__libc_recvfrom|__libc_recv|recvfrom", "(?!x)recvfrom"), "look-around"),
    "unknown-category": (CUSTOM.replace('{symbol: "__libc_recvfrom|__libc_recv|recvfrom"}', "{category: udp-recieve}"),
                         "unknown category"),
    "unknown-template-name": (CUSTOM.replace("{share:pct}\",", "{shares:pct}\","), "does not measure"),
    "newer-engine": (None, "needs rule engine >=9.0"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_pack_gets_one_clear_line_with_file_and_line(tmp_path: Path, case: str) -> None:
    body, message = BROKEN[case]
    if body is None:
        p = tmp_path / "team.yaml"
        p.write_text("schema: diagnose.rules/v1\npack: {name: team, version: 1.0.0, engine: '>=9.0'}\n" + CUSTOM)
    else:
        p = pack(tmp_path, body)
    # `rules validate` lists every error (a misspelt field is also a missing one), each at its place.
    proc = run_cli("rules", "validate", str(p), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr
    lines = [ln.removeprefix("diagnose: error: ") for ln in proc.stderr.splitlines() if ln.strip()]
    errors = lines if len(lines) == 1 else lines[:-1]  # several: a count ends the list
    assert all(ln.startswith(f"{p}:") for ln in errors), proc.stderr
    assert any(message in ln for ln in errors), proc.stderr
    # Loading a pack for an analysis stops at its first error: that one, on one line.
    line = assert_one_line_error(run_cli("analyze", str(fixture("stress-ng-memcpy.perf.txt.gz")), "--rules", str(p),
                                         timeout=60))
    assert line.split("error: ", 1)[1] == errors[0], (line, errors)


def test_a_cycle_of_facts_is_refused(tmp_path: Path) -> None:
    p = pack(tmp_path, """rules:
  - {id: a, title: A, severity: low, when: [{fact: b-seen}], derive: [a-seen], summary: A}
  - {id: b, title: B, severity: low, when: [{fact: a-seen}], derive: [b-seen], summary: B}
""")
    assert_one_line_error(run_cli("rules", "validate", str(p)), "cycle")


def test_long_names_and_heavy_patterns_cannot_hang_the_engine(tmp_path: Path) -> None:
    """RE2 runs in time linear in the text: a pathological-looking pattern on a 50,000-character
    function name finishes at once."""
    name = "x" * 50_000
    capture = tmp_path / "long.txt"
    capture.write_text("".join(
        f"app 1/1 [000] {1 + i / 100:.6f}:   10101010 cpu-clock:ppp: \n\t    7f0000001000 {name}+0x4 (/usr/bin/app)\n"
        f"\t    7f0000002000 main+0x8 (/usr/bin/app)\n\n" for i in range(300)))
    p = pack(tmp_path, CUSTOM.replace("__libc_recvfrom|__libc_recv|recvfrom", "(x|xx|xxx)*y|x*x*x*x*x*z"))
    start = time.monotonic()
    proc = run_cli("analyze", str(capture), "--format", "json", "--rules", str(p), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 60
    assert trace(proc)["team-recvfrom-hot"]["status"] == "not-fired"


def test_rules_list_and_rules_test(tmp_path: Path) -> None:
    proc = run_cli("rules", "list", env={"COLUMNS": "200"})
    assert proc.returncode == 0
    for rid in ("syscall-heavy", "unix-socket-ipc", "codec-hot", "pacer-gcc-hot"):
        assert rid in proc.stdout
    capture = fixture("socat-unix-ipc.perf.txt.gz")
    p = pack(tmp_path, CUSTOM + f"""tests:
  - {{name: fires on socat, capture: {capture}, expect: [team-recvfrom-hot]}}
  - {{name: wrongly expects UDP, capture: {capture}, expect: [udp-receive-heavy]}}
""")
    out = run_cli("rules", "test", str(p))
    assert out.returncode == 1
    assert "PASS  team: fires on socat" in out.stdout
    assert "FAIL  team: wrongly expects UDP" in out.stdout
    assert "expected udp-receive-heavy to fire" in out.stdout
    assert "1 passed, 1 failed" in out.stdout


def test_builtin_packs_pass_their_own_tests_from_the_command_line() -> None:
    from conftest import ROOT

    proc = run_cli("rules", "test", str(ROOT / "rules" / "tests"), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " 0 failed" in proc.stdout


def test_an_unscored_rule_is_ranked_by_its_own_share(tmp_path: Path) -> None:
    p = pack(tmp_path, """rules:
  - id: team-tiny
    title: {en: tiny, zh: 很小}
    severity: high
    when: [{as: s, inclusive_share: {symbol: consume_skb}, gte: 0.01}]
    summary: {en: "{s:pct}", zh: "{s:pct}"}
""")
    got = json.loads(run_cli("analyze", str(fixture("socat-unix-ipc.perf.txt.gz")), "--format", "json",
                             "--rules", str(p)).stdout)["findings"]
    ids = [f["id"] for f in got if f["explained_by"] is None]
    assert ids.index("unix-socket-ipc") < ids.index("team-tiny")


def test_rules_that_explain_each_other_both_stay_in_the_report(tmp_path: Path) -> None:
    rule = """  - id: {me}
    title: {{en: {me}, zh: {me}}}
    severity: low
    when: [{{as: s, inclusive_share: {{category: [unix-socket-ipc]}}, gte: 0.01}}]
    score: {{value: s, info: 0.01}}
    summary: {{en: x, zh: x}}
    explains: [{other}]
"""
    p = pack(tmp_path, "rules:\n" + rule.format(me="team-a", other="team-b") + rule.format(me="team-b", other="team-a"))
    got = findings(run_cli("analyze", str(fixture("socat-unix-ipc.perf.txt.gz")), "--format", "json", "--rules", str(p)))
    assert {"team-a", "team-b"} <= set(got)


def test_values_that_cannot_be_measured_or_compared_make_a_rule_not_applicable(tmp_path: Path) -> None:
    p = pack(tmp_path, """rules:
  - id: team-cores
    title: {en: cores, zh: 核}
    severity: low
    when: [{as: c, cores: {category: [unix-socket-ipc]}, gte: 0.1}]
    summary: {en: "{c:cores} {c:pct} {c:int}", zh: "{c:cores}"}
  - id: team-udp-mem
    title: {en: udp_mem, zh: udp_mem}
    severity: low
    when: [{as: m, env: sysctl.net.ipv4.udp_mem, lt: 1000000}]
    summary: {en: "{m:int}", zh: "{m:int}"}
""")
    folded = tmp_path / "no-frequency.folded"
    folded.write_text(run_cli("collapse", "--kernel", str(fixture("socat-unix-ipc.perf.txt.gz"))).stdout)
    t = trace(run_cli("analyze", str(folded), "--format", "json", "--rules", str(p)))
    assert t["team-cores"]["status"] == "not-applicable"
    assert "frequency" in t["team-cores"]["why_not"]
    from diagnose.engine import _Run

    assert _Run.compare("4096 131072 6291456", "lt", 1000000, "env") is None  # several numbers: not one
    assert _Run.compare("0", None, None, "env") is False


def test_broken_overrides_and_scores_are_refused(tmp_path: Path) -> None:
    for body, message in (("override:\n  - {rule: codec-hot, enabled: 'false'}\n", "true or false"),
                          (CUSTOM.replace("score: {value: share, info: $info, warn: 0.3}", "score: {value: share, warn: 0.3}"),
                           "needs info"),
                          (CUSTOM.replace("warn: 0.3}", "warn: [1]}"), "must be a number")):
        assert_one_line_error(run_cli("rules", "validate", str(pack(tmp_path, body))), message)


def test_kernel_selections_in_a_profile_without_kernel_frames_are_unknown_not_a_crash(tmp_path: Path) -> None:
    # py-spy sees no kernel: the top network category cannot be measured, but the user-space part
    # of a selection that also names the kernel still can.
    p = pack(tmp_path, """rules:
  - id: team-top-network
    title: {en: network code, zh: 网络代码}
    severity: low
    when:
      - {as: net, top_owned_category: {component: network-io}, gte: 0.01}
    summary: {en: "{subject} takes {net:pct}", zh: "{subject} 占 {net:pct}"}
  - id: team-app-or-kernel
    title: {en: application or kernel, zh: 应用或内核}
    severity: low
    when:
      - {as: app, owned_share: {component: [kernel, application]}, gte: 0.10}
    summary: {en: "{app:pct}", zh: "{app:pct}"}
""")
    proc = run_cli("analyze", str(fixture("pyspy-udp-send.folded.gz")), "--format", "json", "--rules", str(p))
    got = findings(proc)
    t = trace(proc)["team-top-network"]
    assert t["status"] != "fired" and "kernel work cannot be measured" in t["why_not"]
    application = {c["id"]: c["share"] for c in json.loads(proc.stdout)["profile"]["components"]}["application"]
    assert got["team-app-or-kernel"]["values"]["app"] == pytest.approx(application, abs=1e-6) and application > 0.1


def test_a_category_decided_by_its_path_is_seen_by_every_measure(tmp_path: Path) -> None:
    # iperf3 sending over loopback: net_rx_action inside a send is loopback delivery. below_share
    # finds it under udp_sendmsg as inclusive_share finds it anywhere, and the evidence names its
    # functions.
    p = pack(tmp_path, """rules:
  - id: team-loopback-in-send
    title: {en: loopback delivery in sends, zh: 发送中的回环投递}
    severity: low
    when:
      - {as: below, below_share: {above: {symbol: "udp_sendmsg"}, below: {category: loopback-delivery}}, gte: 0.01}
    measure:
      - {as: anywhere, inclusive_share: {category: loopback-delivery}}
    summary: {en: "{below:pct} of {anywhere:pct}", zh: "{below:pct} / {anywhere:pct}"}
""")
    got = findings(run_cli("analyze", str(fixture("iperf3-udp-send.perf.txt.gz")), "--format", "json", "--rules", str(p)))
    f = got["team-loopback-in-send"]
    assert f["values"]["below"] == pytest.approx(f["values"]["anywhere"], abs=0.02) and f["values"]["below"] > 0.05
    assert any(fn["name"] in ("net_rx_action", "__netif_receive_skb_one_core", "udp_queue_rcv_one_skb", "ip_local_deliver_finish")
               or "rx" in fn["name"] for fn in f["evidence"]["functions"])
