"""Lambda asset bundling without Docker.

One asset holds the ``functions`` package and its pinned dependencies, installed with pip for the
Lambda platform (``--platform manylinux2014_<arch> --only-binary=:all:``), so the bundle is the
same on any build machine. boto3/botocore and their dependencies are left out: the Lambda runtime
provides them. The asset hash covers the source, the lock file and the target platform.
"""

from __future__ import annotations

import hashlib
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
LOCK = ROOT / "requirements" / "lambda.txt"
# Provided by the Lambda Python runtime (boto3 and what it pulls in).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def bundled_requirements(lock: Path = LOCK) -> list[str]:
    """The pinned requirements of the lock file that go into the bundle."""
    pins = []
    for line in lock.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement and requirement.split("==")[0].lower() not in RUNTIME_PROVIDED:
            pins.append(requirement)
    return pins


@jsii.implements(ILocalBundling)
class LocalPythonBundling:
    def __init__(self, architecture: lambda_.Architecture, python_version: str) -> None:
        self._platform = "manylinux2014_aarch64" if architecture.name == "arm64" else "manylinux2014_x86_64"
        self._python_version = python_version

    # jsii passes the bundling options positionally: keep this signature.
    def try_bundle(self, output_dir: str, options: Any) -> bool:
        requirements = Path(output_dir) / ".requirements.txt"
        requirements.write_text("\n".join(bundled_requirements()) + "\n")
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
                output_dir,
                "--platform",
                self._platform,
                "--implementation",
                "cp",
                "--python-version",
                self._python_version,
                "--only-binary=:all:",
                "-r",
                str(requirements),
            ],
            check=True,
        )
        requirements.unlink()
        shutil.copytree(
            SOURCE,
            Path(output_dir) / SOURCE.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def source_hash(architecture: lambda_.Architecture, python_version: str) -> str:
    digest = hashlib.sha256(f"{architecture.name}|{python_version}".encode())
    digest.update(LOCK.read_bytes())
    for path in sorted(SOURCE.rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def functions_code(architecture: lambda_.Architecture, runtime: lambda_.Runtime) -> lambda_.Code:
    """The asset every function of the stack runs from."""
    python_version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(SOURCE),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_hash(architecture, python_version),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            command=["false"],  # never run: local bundling always succeeds or raises
            # jsii's ILocalBundling declares keyword-only options; the JS side calls it positionally.
            local=LocalPythonBundling(architecture, python_version),  # type: ignore[arg-type]
        ),
    )
