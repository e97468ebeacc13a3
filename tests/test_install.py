"""`pip install .` into a fresh virtual environment works from any directory: the rule packs
and the knowledge base are installed with the package, not read from the source tree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, fixture


# A warning the build prints through Python's warnings module ("path:line: SomethingWarning: text"),
# as setuptools does for the project's own packaging (a deprecated license table, a package
# importable but not declared). pip's own lines ("WARNING: ...", "warning: build_py: byte-compiling
# is disabled") are not the project's.
PROJECT_WARNING = re.compile(r"\b\w*Warning: ")


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh venv with `pip install .`, and what the build printed (-v: pip shows the backend's output)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-v", str(ROOT)], capture_output=True, text=True,
                         cwd=venv)
    if pip.returncode != 0:
        if "Could not find a version" in pip.stderr or "Failed to establish" in pip.stderr:
            pytest.skip(f"no package index reachable to install the dependencies: {pip.stderr.strip()[-200:]}")
        raise AssertionError(pip.stderr)
    return venv / "bin" / "diagnose", pip.stdout + pip.stderr


@pytest.fixture(scope="module")
def installed(install: tuple[Path, str]) -> Path:
    return install[0]


def test_install_prints_no_warning_from_the_project_packaging(install: tuple[Path, str]) -> None:
    warnings = [line.strip() for line in install[1].splitlines() if PROJECT_WARNING.search(line)]
    assert not warnings, "\n".join(warnings)


def test_installed_copy_holds_the_builtin_rule_tests(installed: Path) -> None:
    """rules/tests is declared (diagnose.builtin_rules.tests), so the installed copy has it."""
    site = next(installed.parent.parent.glob("lib/python*/site-packages"))
    assert (site / "diagnose" / "builtin_rules" / "tests" / "builtin.yaml").is_file()


def test_installed_copy_finds_its_rules_and_knowledge_from_any_directory(installed: Path, tmp_path: Path) -> None:
    capture = str(fixture("socat-unix-ipc.perf.txt.gz"))
    proc = subprocess.run([str(installed), "analyze", capture, "--format", "json"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["findings"][0]["id"] == "unix-socket-ipc"
    assert {p["name"] for p in report["rule_packs"]} >= {"linux", "webrtc"}
    assert not any(str(ROOT) in p["path"] for p in report["rule_packs"])
    zh = subprocess.run([str(installed), "analyze", capture, "--format", "markdown", "--lang", "zh"],
                        capture_output=True, text=True, cwd="/")
    assert zh.returncode == 0 and "诊断发现" in zh.stdout
