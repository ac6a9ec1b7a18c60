"""Lambda asset bundling without Docker.

One asset holds the ``functions`` package and its pinned dependencies, installed with pip for the
Lambda platform (``--platform manylinux2014_<arch> --only-binary=:all:``), so the bundle is the
same on any build machine. boto3/botocore and their dependencies are left out: the Lambda runtime
provides them.

The bundle carries bytecode compiled for the runtime's Python (unchecked-hash ``.pyc`` files, valid
whatever the file times in the zip): Lambda's code directory is read-only, so without them every
cold start compiles Powertools, pydantic and the functions again (measured: 2.3x the import time).
That needs a local interpreter of the runtime's version (``python3.13`` on PATH, or pyenv's); set
``CPE_BUNDLE_BYTECODE=0`` to bundle without it. The asset hash covers the source, the lock file,
the target platform and whether bytecode is included.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "functions"
ENGINE_SOURCE = ROOT / "engine"
LOCK = ROOT / "requirements" / "lambda.txt"
# The engine's asset adds FFmpeg's libraries (PyAV, whose wheels for arm64 are manylinux_2_28).
ENGINE_REQUIREMENTS = ROOT / "requirements" / "engine.in"
# Provided by the Lambda Python runtime (boto3 and what it pulls in).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
BYTECODE_SWITCH = "CPE_BUNDLE_BYTECODE"
# Parts of the pinned packages no function imports, left out of the bundle to keep it small
# (bench/asset_size.py measures it; tests/infra/test_bundle.py runs every handler from a pruned
# bundle, so a prune that removes something used fails there). Globs relative to the bundle root.
PRUNED = (
    # The API serves /openapi.json; it never serves Swagger UI's 1.7 MB of JavaScript and CSS.
    "aws_lambda_powertools/event_handler/openapi/swagger_ui",
    # Powertools utilities no function uses (batch, data_classes, parser, typing, validation and
    # jmespath_utils stay: batch and the event handler import them; parameters: the webhook
    # secrets).
    "aws_lambda_powertools/utilities/auth_alpha",
    "aws_lambda_powertools/utilities/circuit_breaker",
    "aws_lambda_powertools/utilities/data_masking",
    "aws_lambda_powertools/utilities/feature_flags",
    "aws_lambda_powertools/utilities/idempotency",
    "aws_lambda_powertools/utilities/kafka",
    "aws_lambda_powertools/utilities/streaming",
    # pydantic's copy of its 1.x API (only ``import pydantic.v1`` loads it).
    "pydantic/v1",
    # Test suites shipped inside packages.
    "ecdsa/test_*.py",
)


class BundlingError(RuntimeError):
    pass


def bundled_requirements(lock: Path = LOCK, *extra: Path) -> list[str]:
    """The pinned requirements of the lock file (and of ``extra`` files) that go into the bundle."""
    pins = []
    for line in [
        *lock.read_text().splitlines(),
        *(row for path in extra for row in path.read_text().splitlines()),
    ]:
        requirement = line.split("#", 1)[0].strip()
        if requirement and requirement.split("==")[0].lower() not in RUNTIME_PROVIDED:
            pins.append(requirement)
    return pins


def find_interpreter(python_version: str) -> str | None:
    """A local interpreter of ``python_version`` (e.g. "3.13"), to compile bytecode for it."""
    candidates = [shutil.which(f"python{python_version}")]
    candidates += sorted(
        glob.glob(str(Path.home() / f".pyenv/versions/{python_version}.*/bin/python{python_version}"))
    )
    for candidate in filter(None, candidates):
        probe = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == python_version:
            return candidate
    return None


def bytecode_wanted() -> bool:
    return os.environ.get(BYTECODE_SWITCH, "1") != "0"


def build_bundle(
    output_dir: Path,
    *,
    platform: str,
    python_version: str,
    compile_with: str | None,
    pruned: bool = True,
    engine: bool = False,
) -> None:
    """Install the pinned dependencies for ``platform``/``python_version``, copy the functions (and
    with ``engine``, the engine and PyAV), and compile everything to bytecode with ``compile_with``
    (an interpreter of that version)."""
    requirements = output_dir / ".requirements.txt"
    extra = (ENGINE_REQUIREMENTS,) if engine else ()
    requirements.write_text("\n".join(bundled_requirements(LOCK, *extra)) + "\n")
    # PyAV's arm64 wheels are manylinux_2_28 (the Lambda runtime's glibc 2.34 takes them).
    platforms = [platform, *([platform.replace("manylinux2014", "manylinux_2_28")] if engine else [])]
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            "--target",
            str(output_dir),
            *(flag for name in platforms for flag in ("--platform", name)),
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "-r",
            str(requirements),
        ],
        check=True,
    )
    requirements.unlink()
    if pruned:
        prune(output_dir)
    for source in (SOURCE, ENGINE_SOURCE) if engine else (SOURCE,):
        shutil.copytree(
            source,
            output_dir / source.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
    if compile_with is not None:
        subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [
                compile_with,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                "-s",
                str(output_dir),
                "-p",
                "/var/task",
                str(output_dir),
            ],
            check=True,
            capture_output=True,
        )


def prune(bundle: Path) -> None:
    for pattern in PRUNED:
        matches = list(bundle.glob(pattern))
        if not matches:
            # A pinned version that moved things: review the list rather than ship it silently.
            raise BundlingError(f"nothing in the bundle matches the prune pattern {pattern!r}")
        for path in matches:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    def __init__(
        self, architecture: lambda_.Architecture, python_version: str, *, engine: bool = False
    ) -> None:
        self._platform = "manylinux2014_aarch64" if architecture.name == "arm64" else "manylinux2014_x86_64"
        self._python_version = python_version
        self._engine = engine

    # jsii passes the bundling options positionally: keep this signature.
    def try_bundle(self, output_dir: str, options: Any) -> bool:
        interpreter = None
        if bytecode_wanted():
            interpreter = find_interpreter(self._python_version)
            if interpreter is None:
                raise BundlingError(
                    f"no local python{self._python_version} to compile the bundle's bytecode for the Lambda "
                    f"runtime (install it, e.g. with pyenv), or set {BYTECODE_SWITCH}=0 to bundle without "
                    "bytecode (every cold start then compiles it)"
                )
        build_bundle(
            Path(output_dir),
            platform=self._platform,
            python_version=self._python_version,
            compile_with=interpreter,
            engine=self._engine,
        )
        return True


def source_hash(architecture: lambda_.Architecture, python_version: str, *, engine: bool = False) -> str:
    digest = hashlib.sha256(f"{architecture.name}|{python_version}|bytecode={bytecode_wanted()}".encode())
    digest.update(LOCK.read_bytes())
    digest.update("|".join(PRUNED).encode())
    sources = [SOURCE, ENGINE_SOURCE] if engine else [SOURCE]
    if engine:
        digest.update(ENGINE_REQUIREMENTS.read_bytes())
    for path in sorted(path for source in sources for path in source.rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def functions_code(
    architecture: lambda_.Architecture, runtime: lambda_.Runtime, *, engine: bool = False
) -> lambda_.Code:
    """The asset the stack's functions run from; with ``engine``, the engine's (PyAV added)."""
    python_version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(SOURCE),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_hash(architecture, python_version, engine=engine),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            command=["false"],  # never run: local bundling always succeeds or raises
            # jsii's ILocalBundling declares keyword-only options; the JS side calls it positionally.
            local=LocalPythonBundling(architecture, python_version, engine=engine),  # type: ignore[arg-type]
        ),
    )
