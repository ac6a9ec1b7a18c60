"""The engine on its Lambda path, as a user meets it: a 2-minute input made in spans side by side,
and hostile inputs (a pixel bomb, a source that drips, one without end) each ending FAILED with
its reason, the engine's memory bounded. A local stack of its own: short spans and a short
download deadline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from cpe_client.client import JobsClient
from engine.activities import EngineOptions
from engine.fanout import FanoutOptions
from engine.reporting import RunReporter, new_run_id, new_workflow_id
from engine.storage import Storage
from engine.workflow import run_job
from functions import env
from local import sample_media
from local.run import engine_parts
from local.stack import LocalStack, local_stack
from tests.e2e.conftest import REQUEST_TIMEOUT
from tests.servers import Server, drip, endless

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
BUCKET = "limits-media"
TIMEOUT = 600  # only so that a broken engine cannot hang the suite
DOWNLOAD_SECONDS = 3
SPAN_SECONDS = 15
LONG_SECONDS, FPS = 120, 25
TASKS = "engine.handlers.tasks.handler"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    started = {"drip": Server(drip(every_seconds=1.5)), "endless": Server(endless)}
    yield started
    for server in started.values():
        server.close()


@pytest.fixture(scope="module")
def stack(servers: dict[str, Server], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = {
        env.DOWNLOAD_SECONDS: str(DOWNLOAD_SECONDS),
        env.SPAN_SECONDS: str(SPAN_SECONDS),
        env.SEGMENT_AFTER_SECONDS: "30",
    }
    trusted = [f"http://{server.endpoint}/" for server in servers.values()]
    with local_stack(engine_jobs=2, trusted_urls=trusted, engine_settings=settings) as running:
        media = tmp_path_factory.mktemp("limits")
        s3 = running.aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(sample_media.pixel_bomb(media / "bomb.png")), BUCKET, "in/bomb.png")
        long = sample_media.video(media / "long.mp4", seconds=LONG_SECONDS, size=(320, 180))
        s3.upload_file(str(long), BUCKET, "in/long.mp4")
        yield running


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> JobsClient:
    return JobsClient(stack.api_url, region=stack.aws.region, timeout=REQUEST_TIMEOUT)


def _peak_rss_kb() -> int:
    """This process's peak resident memory since it was last reset (the local stack runs the
    engine's handlers in this process, as one Lambda sandbox would)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # Linux: the peak starts again from the current size


def test_a_pixel_bomb_fails_at_the_probe_and_is_never_decoded(api: JobsClient):
    _reset_peak_rss()
    before = _peak_rss_kb()
    submitted = api.submit(
        {
            "input_asset": {"type": "IMAGE", "bucket": BUCKET, "file": "/in/bomb.png"},
            "output_assets": [
                {"type": "IMAGE", "bucket": BUCKET, "file": "/out/bomb.jpg", "size": "320x240"}
            ],
        }
    )
    done = api.watch(submitted["jobId"], interval=0.2, timeout=TIMEOUT)
    assert (done["status"], done["error"]["reason"], done["error"]["activityId"]) == (
        "FAILED",
        "INPUT_TOO_LARGE",
        "ValidateAssetStep",
    )
    assert "pixels" in done["error"]["details"]
    # Decoding its 16000x16000 picture alone would take 256 MB (and converting it, over 1.5 GB).
    assert _peak_rss_kb() - before < 128 * 1024


@pytest.mark.parametrize(
    ("server", "reason", "said"),
    [
        # One byte every 1.5 s, for ever: refused at the deadline, however many bytes came by then.
        ("drip", "INPUT_TOO_SLOW", "did not arrive in time"),
        ("endless", "INPUT_UNREACHABLE", "Content-Length"),  # no size, no end
    ],
)
def test_a_source_that_would_hold_its_slot_for_ever_fails_with_its_reason(
    api: JobsClient, servers: dict[str, Server], server: str, reason: str, said: str
):
    url = f"http://{servers[server].endpoint}/input.mp4"
    submitted = api.submit(
        {
            "input_asset": {"type": "VIDEO", "http": url},
            "output_assets": [{"type": "THUMB", "bucket": BUCKET, "file": f"/out/{server}/t.jpg"}],
        }
    )
    done = api.watch(submitted["jobId"], interval=0.2, timeout=TIMEOUT)
    assert (done["status"], done["error"]["reason"]) == ("FAILED", reason), done["error"]
    assert said in done["error"]["details"]


def _frames(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        return frames, float(container.duration or 0) / av.time_base


def test_a_two_minute_input_is_made_in_spans_side_by_side_with_every_frame_of_one_pass(
    stack: LocalStack, api: JobsClient, tmp_path: Path
):
    tasks = [s for s in stack.event_sources if s.function_name == TASKS]
    invocations = sum(s.stats.invocations for s in tasks)
    output = {"type": "VIDEO", "bucket": BUCKET, "file": "/out/long/v.mp4", "size": "320x180"}
    submitted = api.submit(
        {
            "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": "/in/long.mp4"},
            "output_assets": [output],
        }
    )
    done = api.watch(submitted["jobId"], interval=0.5, timeout=TIMEOUT)
    assert done["status"] == "COMPLETED", done.get("error")
    spans = LONG_SECONDS // SPAN_SECONDS
    # validate, the spans, the audio and the join, over two pollers (Lambda's concurrency here).
    assert sum(s.stats.invocations for s in tasks) - invocations == 1 + spans + 2
    assert len(tasks) == 2 and all(s.stats.invocations > 0 for s in tasks)
    assert engine_parts(stack, done) == {"TranscodeAssetStep": f"{spans} spans + audio, joined"}  # make run's

    s3 = stack.aws.client("s3")
    s3.download_file(BUCKET, "out/long/v.mp4", str(tmp_path / "spans.mp4"))
    one_pass = _one_pass(s3, output, tmp_path)
    frames, duration = _frames(tmp_path / "spans.mp4")
    assert (frames, duration) == pytest.approx(_frames(one_pass), abs=1 / FPS)
    assert frames == LONG_SECONDS * FPS


def _one_pass(s3: Any, output: dict[str, Any], folder: Path) -> Path:
    """The same output made in one piece, in this process (no spans)."""
    data = {
        "workflow": {"name": "Transcode", "version": "1.0"},
        "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": "/in/long.mp4"},
        "output_assets": [{**output, "file": "/out/one-pass/v.mp4"}],
        "client": {"name": "e2e"},
    }
    reporter = RunReporter("one-pass", new_run_id(), new_workflow_id(), lambda _: None)
    fanout = FanoutOptions(segment_after_seconds=10 * LONG_SECONDS)
    outcome = run_job(data, reporter, Storage(s3), EngineOptions(encoder_preset="veryfast"), fanout)
    assert outcome.completed
    s3.download_file(BUCKET, "out/one-pass/v.mp4", str(folder / "one-pass.mp4"))
    return folder / "one-pass.mp4"
