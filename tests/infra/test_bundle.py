"""The handlers run from a bundle built like the Lambda asset, pruned the same way (for this
machine's platform: the asset's arm64 wheels cannot load here). The integration suite and the
authorizer's tests run against it, so a prune that removes something a handler uses fails here."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from infra.bundling import PRUNED, build_bundle

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]


def _build(directory: Path, *, engine: bool) -> Path:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_bundle(
        directory,
        platform=f"manylinux2014_{platform.machine()}",
        python_version=version,
        compile_with=None,
        engine=engine,
    )
    return directory


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("bundle"), engine=False)


@pytest.fixture(scope="module")
def engine_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("engine-bundle"), engine=True)


def _run(bundle: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    # The bundle first, the repository (tests, local) after it, and not the working directory (-P):
    # packages resolve from the bundle,
    # and a package's pruned submodule cannot be found anywhere else.
    endpoints = ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT", "SQS_ENDPOINT")
    environment = {k: v for k, v in os.environ.items() if k not in endpoints}
    environment["PYTHONPATH"] = f"{bundle}{os.pathsep}{ROOT}"
    return subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-P", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_pruned_parts_are_gone_and_packages_resolve_from_the_bundle(bundle: Path):
    for pattern in PRUNED:
        assert not list(bundle.glob(pattern)), pattern
    where = _run(
        bundle,
        "-c",
        "import functions, aws_lambda_powertools, pydantic, jose; "
        "print(functions.__file__, aws_lambda_powertools.__file__, pydantic.__file__, jose.__file__)",
    )
    assert where.returncode == 0, where.stderr
    assert all(path.startswith(str(bundle)) for path in where.stdout.split())


ENGINE_TESTS = [
    "tests/integration/test_engine.py",
    "tests/integration/test_engine_fanout.py",
    "tests/integration/test_engine_state.py",
]


def _pytest(bundle: Path, *arguments: str) -> None:
    result = _run(
        bundle,
        "-m",
        "pytest",
        *arguments,
        "-q",
        "-n0",
        "-p",
        "no:cacheprovider",
        "--import-mode=append",  # keep the bundle ahead of the repository on sys.path
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_every_handler_works_from_the_pruned_bundle(bundle: Path):
    # The Lambda functions' tests (the engine has an asset of its own).
    tests = [
        "tests/integration",
        "tests/unit/test_authorizer.py",
        "tests/unit/test_api.py",
        "tests/unit/test_watchdog.py",
    ]
    _pytest(bundle, *tests, *(f"--ignore={path}" for path in ENGINE_TESTS))


def test_the_engine_works_from_its_pruned_bundle(engine_bundle: Path):
    where = _run(engine_bundle, "-c", "import av, engine; print(av.__file__, engine.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(path.startswith(str(engine_bundle)) for path in where.stdout.split())
    _pytest(engine_bundle, *ENGINE_TESTS)
