"""The architecture contract (pyproject.toml [tool.importlinter], run by `make test`): the stages
import only downward, the core never imports typer or rich, no import cycles. Checked here on
the real tree, and on a copy with one wrong import added, which lint-imports must refuse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    exe = str(LINT) if LINT.exists() else shutil.which("lint-imports")
    assert exe, "lint-imports is not installed (pip install -e '.[test]')"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([exe, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("arch")
    shutil.copytree(ROOT / "diagnose", tree / "diagnose", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree)
    return tree


def test_the_tree_keeps_the_contract(copy: Path) -> None:
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    # the core reaching up to a command: a layer skipped upward
    ("core/texts.py", "from diagnose.commands import common", "Stages import only the stages below them"),
    # the model reaching into the expert system: one stage up
    ("model/stats.py", "from diagnose.expert import rules", "Stages import only the stages below them"),
    # capture and report are siblings: neither imports the other
    ("capture/claim.py", "from diagnose.report import terminal", "Stages import only the stages below them"),
    # the core drawing on the terminal library
    ("core/errors.py", "import rich", "The core never imports typer or rich"),
    # two modules of one stage importing each other
    ("expert/findings.py", "from diagnose.expert import engine",
     "No import cycles: between the stages, nor between the modules of one stage"),
])
def test_a_wrong_import_breaks_the_contract(copy: Path, tmp_path: Path, module: str, line: str, contract: str) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(copy, tree)
    target = tree / "diagnose" / module
    target.write_text(target.read_text() + f"\n{line}  # deliberately wrong\n")
    result = lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
