"""The engine against moto: real work on generated media in S3, the messages it sends, what the
tracker makes of them (the fan-out on SQS and DynamoDB: tests/integration/test_engine_fanout.py)."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import boto3
import pytest

from engine.activities import EngineOptions
from engine.errors import Reason
from engine.fanout import FanoutOptions
from engine.reporting import RunReporter, new_run_id, new_workflow_id
from engine.sources import INPUT_URLS, InputLimits, InputRef
from engine.storage import Storage
from engine.workflow import run_job
from functions.jobs.protocol import parse_output_message
from local import sample_media
from tests.integration.conftest import REGION, sqs_event

pytestmark = pytest.mark.integration
BUCKET = "media"
CLIENT = {"name": "ClientA", "queues": {"input": "https://in.example/q", "output": "https://out.example/q"}}
WORKFLOW = {"name": "Transcode", "version": "1.0", "taskList": "basic_transcode", "domain": "SADomain"}
OPTIONS = EngineOptions(encoder_preset="ultrafast")


@pytest.fixture
def s3(aws: None, tmp_path: Path) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(sample_media.video(tmp_path / "clip.mp4", seconds=3)), BUCKET, "uploads/clip.mp4")
    client.upload_file(str(sample_media.corrupt(tmp_path / "bad.mp4")), BUCKET, "uploads/bad.mp4")
    client.upload_file(str(sample_media.image(tmp_path / "photo.jpg")), BUCKET, "uploads/photo.jpg")
    return client


def job(input_file: str, *outputs: dict[str, Any], input_type: str = "VIDEO") -> dict[str, Any]:
    return {
        "workflow": WORKFLOW,
        "input_asset": {"type": input_type, "bucket": BUCKET, "file": input_file},
        "output_assets": list(outputs),
        "client": CLIENT,
    }


def run(data: dict[str, Any], s3: Any, job_id: str = "job-1") -> tuple[list[dict[str, Any]], Any]:
    sent: list[dict[str, Any]] = []
    reporter = RunReporter(job_id, new_run_id(), new_workflow_id(), sent.append, progress_interval=0.2)
    outcome = run_job(data, reporter, Storage(s3), OPTIONS)
    return sent, outcome


def steps(messages: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(type, activityId) in sending order, progress and transfer messages collapsed."""
    seen: list[tuple[str, str | None]] = []
    for message in messages:
        entry = (message["type"], message.get("data", {}).get("activity", {}).get("activityId"))
        if not seen or seen[-1] != entry:
            seen.append(entry)
    return seen


def test_a_job_with_four_outputs_runs_reports_and_tracks_to_completed(s3, invoke_tracker, store, tmp_path):
    data = job(
        "/uploads/clip.mp4",
        {"type": "VIDEO", "bucket": BUCKET, "file": "/out/360/clip.mp4", "preset": "360p-16.9-generic"},
        {"type": "VIDEO", "bucket": BUCKET, "file": "/out/hls/clip.m3u8", "preset": "hls400k-generic"},
        {
            "type": "THUMB",
            "bucket": BUCKET,
            "file": "/out/thumbs/clip.jpg",
            "mode": "intervals",
            "intervals": 1,
        },
        {"type": "AUDIO", "bucket": BUCKET, "file": "/out/audio/clip.m4a", "s3_encrypt": True},
    )
    messages, outcome = run(data, s3)
    assert outcome.completed
    assert steps(messages)[:4] == [
        ("WORKFLOW_SCHEDULED", None),
        ("ACTIVITY_STARTED", "ValidateAssetStep"),
        ("ACTIVITY_PREPARING", "ValidateAssetStep"),
        ("ACTIVITY_COMPLETED", "ValidateAssetStep"),
    ]
    for step in ("TranscodeAssetStep1", "TranscodeAssetStep2", "TranscodeAssetStep3", "TranscodeAssetStep4"):
        kinds = [kind for kind, activity in steps(messages) if activity == step]
        assert kinds[0] == "ACTIVITY_STARTED" and kinds[-2:] == ["ACTIVITY_FINISHING", "ACTIVITY_COMPLETED"]
        assert "ACTIVITY_PREPARING" in kinds
    assert messages[-1]["type"] == "WORKFLOW_COMPLETED"
    assert any(m["type"] == "ACTIVITY_PROGRESS" for m in messages)
    # Every body parses as the tracker parses the output queue, and WORKFLOW_SCHEDULED echoes the job.
    assert all(parse_output_message(json.dumps(m), 0.0).run_id == outcome.run_id for m in messages)
    assert messages[0]["input"] == data and messages[0]["jobId"] == "job-1"

    keys = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"]}
    assert {"out/360/clip.mp4", "out/hls/clip.m3u8", "out/audio/clip.m4a"} <= set(keys)
    assert {k for k in keys if k.startswith("out/thumbs/")} == {
        f"out/thumbs/clip{n:06d}.jpg" for n in (1, 2, 3)
    }
    assert any(k.startswith("out/hls/clip_") and k.endswith(".ts") for k in keys)
    head = s3.head_object(Bucket=BUCKET, Key="out/audio/clip.m4a")
    assert (head["ContentType"], head["ServerSideEncryption"]) == ("audio/mp4", "AES256")
    s3.download_file(BUCKET, "out/360/clip.mp4", str(tmp_path / "r.mp4"))
    with av.open(str(tmp_path / "r.mp4")) as rendition:
        assert (rendition.streams.video[0].width, rendition.streams.video[0].height) == (
            320,
            240,
        )  # no upscaling

    response = invoke_tracker(sqs_event(random.Random(3).sample(messages, len(messages))))
    assert response == {"batchItemFailures": []}
    tracked = store.get_jobs(["job-1"])["job-1"].job
    assert (tracked.status.value, tracked.progress) == ("COMPLETED", 100)
    assert tracked.probe is not None and tracked.probe["streams"][0]["width"] == 320
    listed = {(o["activityId"], o["key"]) for o in tracked.outputs}
    assert ("TranscodeAssetStep1", "out/360/clip.mp4") in listed and (
        "TranscodeAssetStep4",
        "out/audio/clip.m4a",
    ) in listed
    mp4 = next(o for o in tracked.outputs if o["key"] == "out/360/clip.mp4")
    assert mp4["size"] == keys["out/360/clip.mp4"] and mp4["contentType"] == "video/mp4" and "probe" in mp4


def test_a_corrupt_input_fails_validation_and_the_job_with_its_reason(s3, invoke_tracker, store):
    messages, outcome = run(
        job("/uploads/bad.mp4", {"type": "VIDEO", "bucket": BUCKET, "file": "/o/x.mp4"}), s3
    )
    assert outcome.error is not None and outcome.error.reason is Reason.INPUT_NOT_MEDIA
    assert [m["type"] for m in messages] == [
        "WORKFLOW_SCHEDULED",
        "ACTIVITY_STARTED",
        "ACTIVITY_PREPARING",
        "ACTIVITY_FAILED",
        "WORKFLOW_FAILED",
    ]
    assert messages[-1]["data"]["reason"] == "INPUT_NOT_MEDIA"
    invoke_tracker(sqs_event(messages))
    tracked = store.get_jobs(["job-1"])["job-1"].job
    assert tracked.status.value == "FAILED"
    assert tracked.error is not None and tracked.error["reason"] == "INPUT_NOT_MEDIA"
    assert tracked.error["activityId"] == "ValidateAssetStep"


def test_outputs_are_independent_one_failing_does_not_stop_the_others(s3):
    messages, outcome = run(
        job(
            "/uploads/clip.mp4",
            {"type": "IMAGE", "bucket": BUCKET, "file": "/o/x.jpg"},  # IMAGE from VIDEO: refused
            {"type": "THUMB", "bucket": BUCKET, "file": "/o/t.jpg", "snapshot_sec": 1},
            {
                "type": "VIDEO",
                "bucket": BUCKET,
                "file": "/o/v.mp4",
                "custom_cmd": "ffmpeg -i ${input_file} ${output_file}",
            },
        ),
        s3,
    )
    ends = {
        m["data"]["activity"]["activityId"]: m
        for m in messages
        if m["type"] in ("ACTIVITY_COMPLETED", "ACTIVITY_FAILED")
    }
    assert ends["TranscodeAssetStep1"]["data"]["activity"]["result"]["reason"] == "CONVERSION_TYPE_ERROR"
    assert ends["TranscodeAssetStep2"]["type"] == "ACTIVITY_COMPLETED"
    assert ends["TranscodeAssetStep3"]["data"]["activity"]["result"]["reason"] == "CUSTOM_CMD_DISABLED"
    assert (
        messages[-1]["type"] == "WORKFLOW_FAILED"
        and messages[-1]["data"]["reason"] == "CONVERSION_TYPE_ERROR"
    )
    assert outcome.error is not None


def test_an_image_job_crops_and_keeps_the_source_extension(s3):
    output = {"type": "IMAGE", "bucket": BUCKET, "file": "/o/photo.*", "crop": "300x300+0+0", "quality": 70}
    messages, outcome = run(job("/uploads/photo.jpg", output, input_type="IMAGE"), s3)
    assert outcome.completed, messages[-2]
    result = messages[-2]["data"]["activity"]["result"]
    assert result["outputs"][0]["key"] == "o/photo.jpg" and result["streams"][0]["width"] == 300


def test_probing_a_large_file_reads_only_what_it_needs(aws, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    # Moov at the end (no fast start), as cameras write: the probe has to seek there.
    big = sample_media.video(tmp_path / "big.mp4", seconds=20, size=(1280, 720), bitrate=8_000_000)
    s3.upload_file(str(big), BUCKET, "big.mp4")
    reader = Storage(s3).sources.open_ranged(InputRef(bucket=BUCKET, key="big.mp4"))
    from engine.probe import probe  # noqa: PLC0415

    document = probe(reader, name="big.mp4", size=reader.size)
    assert document["streams"][0]["width"] == 1280
    assert reader.size > 10_000_000 and reader.bytes_fetched <= 2_000_000


def test_an_unsafe_url_input_is_refused(s3):
    data = job("/x", {"type": "VIDEO", "bucket": BUCKET, "file": "/o/v.mp4"})
    data["input_asset"] = {"type": "VIDEO", "http": "http://169.254.169.254/latest/meta-data"}
    messages, outcome = run(data, s3)
    assert outcome.error is not None and outcome.error.reason is Reason.INPUT_UNREACHABLE
    assert messages[-2]["type"] == "ACTIVITY_FAILED"


def shape(value: Any, path: str = "") -> set[str]:
    """The key paths of a message, not descending into the activity's input or result."""
    if not isinstance(value, dict) or path.endswith((".input", ".result")) or path == ".input":
        return {path}
    return {p for key, item in value.items() for p in shape(item, f"{path}.{key}")}


def test_the_engines_messages_have_cts_shapes(s3):
    from local.ct_simulator import CtRun, run_messages  # noqa: PLC0415 - CT's shapes, per docs/protocol.md

    messages, _ = run(job("/uploads/clip.mp4", {"type": "THUMB", "bucket": BUCKET, "file": "/o/t.jpg"}), s3)
    reference = {m["type"]: shape(m) for m in run_messages(CtRun("j", "r", "w", decider_messages=True))}
    for message in messages:
        expected = reference[message["type"]]
        if message["type"] == "WORKFLOW_COMPLETED":
            assert shape(message) == expected
        assert shape(message) - expected <= {".data.reason", ".data.details"}, message["type"]
        assert expected - shape(message) == set(), message["type"]


def test_an_http_input_is_read_with_ranges_and_localhost_only_where_allowed(s3, tmp_path):
    import functools  # noqa: PLC0415
    import http.server  # noqa: PLC0415

    sample_media.video(tmp_path / "web.mp4", seconds=2)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/web.mp4"
        data = job("/x", {"type": "THUMB", "bucket": BUCKET, "file": "/o/web.jpg"})
        data["input_asset"] = {"type": "VIDEO", "http": url}
        _, refused = run(data, s3)
        assert refused.error is not None and refused.error.reason is Reason.INPUT_UNREACHABLE
        sent: list[dict[str, Any]] = []
        reporter = RunReporter("job-h", new_run_id(), new_workflow_id(), sent.append)
        trusted = replace(INPUT_URLS, trusted=frozenset({f"127.0.0.1:{server.server_address[1]}"}))
        outcome = run_job(data, reporter, Storage(s3, InputLimits(http_policy=trusted)), OPTIONS)
        assert outcome.completed, sent[-2]
        assert s3.head_object(Bucket=BUCKET, Key="o/web.jpg")["ContentType"] == "image/jpeg"
    finally:
        server.shutdown()


def test_custom_cmd_runs_ffmpeg_without_a_shell_where_allowed(s3, tmp_path, monkeypatch):
    import imageio_ffmpeg  # noqa: PLC0415

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    marker = tmp_path / "pwned"
    allowed = EngineOptions(encoder_preset="ultrafast", allow_custom_cmd=True)
    outputs = {
        "ok": "ffmpeg -v error -y -i ${input_file} -vf scale=160:120 ${watermark_options} ${output_file}",
        "shell": f"ffmpeg -y -i ${{input_file}} ${{output_file}}; touch {marker}",
    }
    results = {}
    for name, command in outputs.items():
        data = job(
            "/uploads/clip.mp4",
            {"type": "VIDEO", "bucket": BUCKET, "file": f"/o/{name}.mp4", "custom_cmd": command},
        )
        sent: list[dict[str, Any]] = []
        reporter = RunReporter(f"job-{name}", new_run_id(), new_workflow_id(), sent.append)
        results[name] = (run_job(data, reporter, Storage(s3), allowed), sent)
    ok, sent = results["ok"]
    assert ok.completed and sent[-2]["data"]["activity"]["result"]["streams"][0]["width"] == 160
    failed, _ = results["shell"]
    assert failed.error is not None and failed.error.reason is Reason.TRANSCODE_FAIL
    assert not marker.exists()  # "; touch" reached ffmpeg as arguments, not a shell


def test_a_long_video_output_is_made_in_spans_that_join_into_the_one_pass_rendition(
    s3, invoke_tracker, store, tmp_path
):
    """The fan-out's path for long inputs, run in this process: spans, audio once, join. The
    rendition has every frame a single pass has; progress comes from the parts done."""
    source = sample_media.video(tmp_path / "long.mp4", seconds=24, size=(320, 240))
    s3.upload_file(str(source), BUCKET, "uploads/long.mp4")
    outputs = [
        {"type": "VIDEO", "bucket": BUCKET, "file": "/out/long/v.mp4", "size": "160x120"},
        {"type": "VIDEO", "bucket": BUCKET, "file": "/out/long/hls/v.m3u8", "size": "160x120"},
        {"type": "THUMB", "bucket": BUCKET, "file": "/out/long/t.jpg", "snapshot_sec": 20},
    ]
    sent: list[dict[str, Any]] = []
    reporter = RunReporter("job-long", new_run_id(), new_workflow_id(), sent.append, progress_interval=0)
    fanout = FanoutOptions(span_seconds=6, segment_after_seconds=10, work_bucket=BUCKET)
    outcome = run_job(job("/uploads/long.mp4", *outputs), reporter, Storage(s3), OPTIONS, fanout)
    assert outcome.completed, sent[-1]
    progress = [
        m["data"]["activity"]["result"]["progress"]
        for m in sent
        if m["type"] == "ACTIVITY_PROGRESS" and m["data"]["activity"]["activityId"] == "TranscodeAssetStep1"
    ]
    assert progress == sorted(progress) and len(progress) == 5  # four spans and the audio
    s3.download_file(BUCKET, "out/long/v.mp4", str(tmp_path / "joined.mp4"))
    with av.open(str(tmp_path / "joined.mp4")) as joined:
        frames = sum(1 for _ in joined.decode(video=0))
    assert frames == 24 * 25
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="out/long/hls/")["Contents"]
    assert [o["Key"] for o in listed][:2] == ["out/long/hls/v.m3u8", "out/long/hls/v_00000.ts"]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=fanout.work_prefix).get("KeyCount") == 0  # cleaned up
    assert invoke_tracker(sqs_event(sent)) == {"batchItemFailures": []}
    tracked = store.get_jobs(["job-long"])["job-long"].job
    assert (tracked.status.value, tracked.progress) == ("COMPLETED", 100)
