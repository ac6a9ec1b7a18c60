"""The import rules between the packages (pyproject.toml, [tool.importlinter]) are enforced: the
tree keeps them, and a copy of it with one rule broken fails `lint-imports` (make lint)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("functions", "engine", "infra", "local", "bench", "tests", "cpe_client")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the virtual environment's own tool
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages' sources and the project's configuration."""
    copy = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("functions/authorizer/tokens.py", "import cpe_client.client", "The functions import none"),
        ("functions/jobs/machine.py", "import boto3", "The domain imports no AWS SDK"),
        ("engine/workflow.py", "import functions.tracker.logic", "The engine imports no API, tracker"),
        ("infra/api.py", "import functions.api.handler", "Infra imports no handler module"),
        ("bench/fuzz.py", "import tests.builders", "The benchmarks import no tests"),
    ],
)
def test_a_broken_rule_fails_and_names_its_contract(tree: Path, module: str, violation: str, contract: str):
    assert lint_imports(tree).returncode == 0
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{violation}  # noqa\n")
    try:
        result = lint_imports(tree)
    finally:
        path.write_text(original)
    assert result.returncode == 1
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract)
