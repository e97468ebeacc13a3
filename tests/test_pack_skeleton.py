"""`diagnose rules new NAME` (issue 15): the skeleton validates and its test passes as written,
on the capture installed with diagnose; it never replaces a file."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, fixture, run_cli


def test_rules_new_writes_a_pack_that_validates_and_passes_its_test(tmp_path: Path) -> None:
    proc = run_cli("rules", "new", "my-team", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pack = tmp_path / "my-team.yaml"
    text = pack.read_text()
    assert "name: my-team" in text and "knowledge:" in text and "bundled:file-read.perf.txt.gz" in text
    assert text.count("\n  - id: ") == 1 and text.count("    - id: ") == 1  # one rule, one knowledge entry
    ok = run_cli("rules", "validate", "my-team.yaml", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    assert ok.stdout.startswith("ok: 1 pack(s), 1 rule(s), 1 test case(s)")
    test = run_cli("rules", "test", "my-team.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "PASS  my-team: a program reading a cached file" in test.stdout and "1 passed, 0 failed" in test.stdout
    # Run with it: its finding and the advice of its own knowledge entry.
    report = run_cli("analyze", str(fixture("file-read.perf.txt.gz")), "--rules", str(pack), "--width", "200")
    assert report.returncode == 0, report.stderr
    assert "(my-team-read-hot;" in report.stdout and "Read in larger blocks" in report.stdout


def test_rules_new_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    target.write_text("keep me\n")
    proc = run_cli("rules", "new", "team", "-o", str(target))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"diagnose: error: {target}: already exists; rules new never replaces a file, so choose another name or -o path")
    assert target.read_text() == "keep me\n"
    zh = run_cli("rules", "new", "team", "-o", str(target), "--lang", "zh")
    assert zh.returncode == 2 and zh.stderr.strip() == f"diagnose：错误：{target}：已存在；`rules new` 从不覆盖文件，请换一个名称或 -o 路径"
    bad = run_cli("rules", "new", "a:b", cwd=tmp_path)
    assert bad.returncode == 2 and "a pack name is letters, digits" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [target]


def test_the_bundled_capture_is_the_fixture() -> None:
    """rules/captures/ holds a copy of a recorded fixture (installed with the package); it must
    stay the same bytes as the fixture its sidecar describes."""
    assert (ROOT / "rules" / "captures" / "file-read.perf.txt.gz").read_bytes() == \
        fixture("file-read.perf.txt.gz").read_bytes()
