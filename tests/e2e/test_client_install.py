"""The client on its own, as a team adopting the stack installs it: `pip install ./cpe_client` into a
fresh virtual environment (no server dependency comes with it), then its `cpe-client` command
used against the local stack: upload a file, submit a job on it, follow it to the end, list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import sample_media
from local.stack import LocalStack, local_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = {"aws-lambda-powertools", "pynamodb", "aws-cdk-lib", "moto", "av", "pydantic", "boto3"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the client alone; its bin folder."""
    folder = tmp_path_factory.mktemp("client") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", str(ROOT / "cpe_client")], check=True, timeout=600)
    return folder / "bin"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with local_stack(engine_jobs=1) as running:
        yield running


def cli(bin_folder: Path, stack: LocalStack, *arguments: str) -> str:
    environment = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run(
        [
            str(bin_folder / "cpe-client"),
            "--endpoint",
            stack.api_url,
            "--region",
            stack.aws.region,
            *arguments,
        ],
        env=environment,
        cwd=bin_folder,  # not the checkout: nothing of the server's can be imported from here
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_installed_client_alone_uploads_submits_follows_and_lists(
    installed: Path, stack: LocalStack, tmp_path: Path
):
    listed = subprocess.run(
        [str(installed / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    packages = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "cpe-client" in packages and "botocore" in packages
    assert not packages & SERVER_PACKAGES

    clip = sample_media.video(tmp_path / "clip.mp4", seconds=1, size=(160, 90))
    grant = json.loads(cli(installed, stack, "upload", str(clip)))
    job_file = tmp_path / "job.json"
    job_file.write_text(
        json.dumps(
            {
                "input_asset": grant["input_asset"],
                "output_asset": {
                    "type": "THUMB",
                    "bucket": grant["input_asset"]["bucket"],
                    "file": f"{grant['output_prefix']}client/thumb.jpg",
                },
            }
        )
    )
    submitted = cli(installed, stack, "submit", str(job_file), "--watch")
    assert "COMPLETED" in submitted
    jobs = json.loads(cli(installed, stack, "list", "--status", "COMPLETED"))["items"]
    assert len(jobs) == 1 and jobs[0]["status"] == "COMPLETED"
