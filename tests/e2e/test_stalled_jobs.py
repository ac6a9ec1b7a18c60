"""A job whose engine went silent ends TIMED_OUT through the watchdog, on its own local stack (a
limit of seconds, not hours; schedules firing twice a second)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpe_client.client import JobsClient
from local import sample_media
from local.stack import LocalStack, local_stack
from tests.e2e.conftest import REQUEST_TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
BUCKET = "stall-media"
COMMANDS = "engine.handlers.commands.handler"
TIMEOUT = 180


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(engine_jobs=1, stalled_after_seconds=2, schedule_seconds=0.5) as running:
        s3 = running.aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        clip = sample_media.video(
            Path(tmp_path_factory.mktemp("stall")) / "clip.mp4", seconds=2, size=(320, 180)
        )
        s3.upload_file(str(clip), BUCKET, "in/clip.mp4")
        yield running


def test_a_job_nothing_takes_times_out_and_its_late_completion_replaces_the_finding(stack: LocalStack):
    api = JobsClient(stack.api_url, region=stack.aws.region, timeout=REQUEST_TIMEOUT)
    assert stack.set_enabled(COMMANDS, False) == 1  # the engine stops taking jobs, without a word
    submitted = api.submit(
        {
            "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": "/in/clip.mp4"},
            "output_assets": [{"type": "THUMB", "bucket": BUCKET, "file": "/out/t.jpg"}],
        }
    )
    stalled = api.watch(submitted["jobId"], interval=0.2, timeout=TIMEOUT)
    assert (stalled["status"], stalled["error"]["reason"]) == ("TIMED_OUT", "STALLED")
    assert "STALLED" in [e["event"] for e in api.events(submitted["jobId"], limit=100)["items"]]

    stack.set_enabled(COMMANDS, True)  # it comes back: START_JOB waited on the input queue
    deadline = time.monotonic() + TIMEOUT
    while (job := api.get(submitted["jobId"]))["status"] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (job["status"], job["error"]) == ("COMPLETED", None)
