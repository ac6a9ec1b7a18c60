"""The engine fanned out on moto's SQS, DynamoDB and S3, driven through its Lambda handlers by the
local event source emulation (as the local stack and Lambda run them): every step safe under
redelivery, crashed tasks retried, dead tasks dead-lettered and their outputs failed, cancels
honoured before and during the work, unreadable commands dead-lettered alone. The tracker reads
the reports, so each test ends on the job a user would see."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import boto3
import pytest

from engine import runtime, video
from engine.fanout import MAX_TASK_ATTEMPTS, MAX_TASK_RECEIVES
from engine.handlers import commands as commands_handler
from engine.handlers import gave_up as gave_up_handler
from engine.handlers import tasks as tasks_handler
from engine.state_dynamo import EngineStateUnavailable
from functions import env
from functions.jobs.commands import cancel_job_body, start_job_body
from functions.messaging import redelivery
from functions.store.dynamo import DynamoJobStore
from local import sample_media
from local.event_source import Handler, LambdaContext, SqsEventSource
from local.resources import create_engine_table, create_queue_with_dlq
from tests.integration.conftest import REGION, sqs_event

pytestmark = pytest.mark.integration
BUCKET = "media"
WORKFLOW = {"name": "Transcode", "version": "1.0", "taskList": "basic_transcode", "domain": "SADomain"}
SECONDS, FPS = 12, 25
SAFETY_SECONDS = 300  # only so that a broken engine cannot hang the suite; never a speed target


@dataclass
class EngineOnMoto:
    sqs: Any
    s3: Any
    input_url: str
    input_dead_letters: str
    output_url: str
    work_url: str
    work_dead_letters: str
    tasks_handler: Handler = tasks_handler.handler
    reports: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, SqsEventSource] = field(default_factory=dict)

    def source(self, name: str, url: str, handler: Handler, batch_size: int) -> SqsEventSource:
        if name not in self.sources:
            self.sources[name] = SqsEventSource(
                self.sqs, url, handler, batch_size=batch_size, function_name=name, timeout_ms=900_000
            )
        return self.sources[name]

    def job(self, *outputs: dict[str, Any], source: str = "/uploads/clip.mp4") -> dict[str, Any]:
        return {
            "workflow": WORKFLOW,
            "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": source},
            "output_assets": [{"bucket": BUCKET, **output} for output in outputs],
            "client": {"name": "ClientA", "queues": {"input": self.input_url, "output": self.output_url}},
        }

    def start(self, job_id: str, data: dict[str, Any]) -> None:
        self.sqs.send_message(
            QueueUrl=self.input_url, MessageBody=start_job_body(job_id=job_id, time=1.0, data=data)
        )

    def cancel(self, job_id: str) -> None:
        client = self.job()["client"]
        body = cancel_job_body(job_id=job_id, time=2.0, data={"workflow": WORKFLOW, "client": client})
        self.sqs.send_message(QueueUrl=self.input_url, MessageBody=body)

    def poll_commands(self) -> int:
        return self.source("commands", self.input_url, commands_handler.handler, 10).poll_once()

    def run(self) -> None:
        """Run the engine's three functions until nothing is left on their queues, in flight
        included (a crashed task waits out its visibility timeout, as on AWS)."""
        queues = (self.input_url, self.work_url, self.work_dead_letters)
        deadline = time.monotonic() + SAFETY_SECONDS
        while any(self._waiting(url) for url in queues):
            assert time.monotonic() < deadline, "the engine never finished"
            received = self.poll_commands()
            received += self.source("tasks", self.work_url, self.tasks_handler, 1).poll_once()
            received += self.source(
                "gave_up", self.work_dead_letters, gave_up_handler.handler, 10
            ).poll_once()
            if not received:
                time.sleep(0.1)

    def _waiting(self, url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[name]) for name in names)

    def collect(self) -> list[dict[str, Any]]:
        """The reports sent so far (the output queue emptied into ``reports``)."""
        while batch := self.sqs.receive_message(QueueUrl=self.output_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            self.reports += [json.loads(m["Body"]) for m in batch]
            for message in batch:
                self.sqs.delete_message(QueueUrl=self.output_url, ReceiptHandle=message["ReceiptHandle"])
        return self.reports

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.collect() if r["type"] == kind]

    def frames(self, key: str, folder: Path) -> int:
        target = folder / key.replace("/", "_")
        self.s3.download_file(BUCKET, key, str(target))
        with av.open(str(target)) as container:
            return sum(1 for _ in container.decode(video=0))


@pytest.fixture
def engine_aws(aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[EngineOnMoto]:
    sqs, s3 = boto3.client("sqs", region_name=REGION), boto3.client("s3", region_name=REGION)
    input_url, input_dead_letters = create_queue_with_dlq(sqs, "input", visibility_timeout=1, max_receives=2)
    work_url, work_dead_letters = create_queue_with_dlq(
        sqs, "work", visibility_timeout=1, max_receives=MAX_TASK_RECEIVES
    )
    output_url = sqs.create_queue(QueueName="output")["QueueUrl"]
    create_engine_table(boto3.client("dynamodb", region_name=REGION), "engine-state")
    s3.create_bucket(Bucket=BUCKET)
    clip = sample_media.video(tmp_path / "clip.mp4", seconds=SECONDS, size=(160, 120))
    s3.upload_file(str(clip), BUCKET, "uploads/clip.mp4")
    for name, value in {
        env.ENGINE_TABLE_NAME: "engine-state",
        env.WORK_QUEUE_URL: work_url,
        env.INPUT_QUEUE_URL: input_url,
        env.WORK_BUCKET: BUCKET,
        env.SPAN_SECONDS: "4",  # a 12 s input: 3 spans
        env.SEGMENT_AFTER_SECONDS: "6",
        env.MAX_INPUT_BYTES: str(100 * 1024**2),
        env.MAX_INPUT_PIXELS: str(1920 * 1080),
        env.MAX_INPUT_SECONDS: "3600",
        env.DOWNLOAD_SECONDS: "60",
        env.ENCODER_PRESET: "ultrafast",
        env.PROGRESS_SECONDS: "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(redelivery, "FIRST_BACKOFF_SECONDS", 0)  # a retried message comes back at once
    _clear_runtime()
    yield EngineOnMoto(sqs, s3, input_url, input_dead_letters, output_url, work_url, work_dead_letters)
    _clear_runtime()


def _clear_runtime() -> None:
    for cached in (runtime.settings, runtime.engine, runtime.input_queue, runtime._sqs):
        cached.cache_clear()


@pytest.fixture
def tracked(
    engine_aws: EngineOnMoto, invoke_tracker: Callable[[dict[str, Any]], Any], store: DynamoJobStore
) -> Callable[[str], Any]:
    """The job as the tracker records it from every report sent so far."""

    def job(job_id: str) -> Any:
        assert invoke_tracker(sqs_event(engine_aws.collect())) == {"batchItemFailures": []}
        return store.get_jobs([job_id])[job_id].job

    return job


VIDEO = {"type": "VIDEO", "file": "/outputs/v.mp4", "size": "160x120"}
THUMB = {"type": "THUMB", "file": "/outputs/t.jpg", "snapshot_sec": 1}


def test_a_long_output_fans_out_into_spans_audio_and_a_join_and_completes(engine_aws, tracked, tmp_path):
    engine_aws.start("job-1", engine_aws.job(VIDEO, THUMB))
    engine_aws.run()
    job = tracked("job-1")
    assert (job.status.value, job.progress) == ("COMPLETED", 100)
    # validate, 3 spans, the audio, the join; the thumbnail as one whole output.
    assert engine_aws.sources["tasks"].stats.invocations == 7
    assert engine_aws.frames("outputs/v.mp4", tmp_path) == SECONDS * FPS
    assert engine_aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="cpe-engine-work/")["KeyCount"] == 0


def test_a_long_adaptive_output_is_packaged_one_rendition_per_task_then_its_manifests(
    engine_aws, tracked, tmp_path
):
    """On the engine's queues: each span encodes every rung; then one task per rendition (the
    rungs, the audio) packages and stores it; the last one done sends the manifests' task."""
    adaptive = {
        "type": "ADAPTIVE",
        "file": "/outputs/abr/v.m3u8",
        "ladder": [{"height": 120}, {"height": 96}],
    }
    engine_aws.start("job-1", engine_aws.job(adaptive))
    engine_aws.run()
    job = tracked("job-1")
    assert (job.status.value, job.progress) == ("COMPLETED", 100)
    # validate, 3 spans, the audio, 2 rungs + the audio packaged, the manifests.
    assert engine_aws.sources["tasks"].stats.invocations == 9
    keys = {o["Key"] for o in engine_aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/abr/")["Contents"]}
    assert {
        "outputs/abr/v.m3u8",
        "outputs/abr/v.mpd",
        "outputs/abr/v_120p.m3u8",
        "outputs/abr/v_audio.m3u8",
    } <= keys
    engine_aws.s3.download_file(BUCKET, "outputs/abr/v.m3u8", str(tmp_path / "v.m3u8"))
    master = (tmp_path / "v.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF:") == 2 and "TYPE=AUDIO" in master
    result = job.runs[job.runId].activities["TranscodeAssetStep"].outputs
    assert result[0]["key"] == "outputs/abr/v.m3u8" and {o["key"] for o in result} == keys
    assert engine_aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="cpe-engine-work/")["KeyCount"] == 0


def test_a_redelivered_start_job_is_the_same_run_and_completes_once(engine_aws, tracked, tmp_path):
    engine_aws.start("job-1", engine_aws.job(VIDEO))
    (message,) = engine_aws.sqs.receive_message(QueueUrl=engine_aws.input_url)["Messages"]
    record = sqs_event([message["Body"]])["Records"][0] | {"messageId": message["MessageId"]}
    for _ in range(2):  # delivered twice: the first invocation's delete was lost
        answer = commands_handler.handler({"Records": [record]}, LambdaContext(function_name="commands"))
        assert answer == {"batchItemFailures": []}
    engine_aws.sqs.delete_message(QueueUrl=engine_aws.input_url, ReceiptHandle=message["ReceiptHandle"])
    engine_aws.run()
    job = tracked("job-1")
    assert job.status.value == "COMPLETED" and len(job.runs) == 1
    assert len({r["runId"] for r in engine_aws.of_type("WORKFLOW_SCHEDULED")}) == 1
    assert len(engine_aws.of_type("WORKFLOW_COMPLETED")) == 1
    assert len(engine_aws.of_type("ACTIVITY_COMPLETED")) == 2  # the validation and the output, once each
    assert engine_aws.frames("outputs/v.mp4", tmp_path) == SECONDS * FPS


def test_a_start_job_that_meets_a_throttled_table_comes_back_after_its_backoff_and_completes(
    engine_aws, tracked, monkeypatch
):
    # Without the handler's backoff the command would wait out this hour-long visibility timeout.
    hour = {"VisibilityTimeout": "3600"}
    engine_aws.sqs.set_queue_attributes(QueueUrl=engine_aws.input_url, Attributes=hour)
    state = runtime.engine().state
    start_run, calls = state.start_run, []

    def throttled_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise EngineStateUnavailable("put_item: ProvisionedThroughputExceededException")
        return start_run(*args)

    monkeypatch.setattr(state, "start_run", throttled_once)
    engine_aws.start("job-1", engine_aws.job(THUMB))
    assert engine_aws.poll_commands() == 1  # received, failed, its backoff set (0 s here)
    engine_aws.run()
    assert len(calls) == 2
    assert tracked("job-1").status.value == "COMPLETED"
    assert not engine_aws.sqs.receive_message(QueueUrl=engine_aws.input_dead_letters).get("Messages")


def test_the_retry_backoff_grows_to_cover_minutes_of_trouble_over_the_queues_receives():
    waits = [redelivery.backoff_seconds(n) for n in range(1, MAX_TASK_RECEIVES + 1)]
    assert waits == sorted(waits) and waits[0] == redelivery.FIRST_BACKOFF_SECONDS
    assert sum(waits[:-1]) >= 5 * 60  # the dead-letter queue gets it only after minutes, not seconds
    assert max(waits) <= redelivery.MAX_BACKOFF_SECONDS


def _failing_spans(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Make the first ``times`` span encodes crash (as a lost connection or a full disk would)."""
    calls: list[int] = []
    encode = video.encode_videos

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise OSError("No space left on device")
        return encode(*args, **kwargs)

    monkeypatch.setattr(video, "encode_videos", flaky)
    return calls


def test_a_crashed_span_is_retried_and_the_output_still_has_every_frame(
    engine_aws, tracked, tmp_path, monkeypatch
):
    calls = _failing_spans(monkeypatch, times=1)
    engine_aws.start("job-1", engine_aws.job(VIDEO))
    engine_aws.run()
    assert tracked("job-1").status.value == "COMPLETED"
    assert len(calls) == 4  # three spans, one of them twice
    assert engine_aws.sources["tasks"].stats.failed == 1
    assert engine_aws.frames("outputs/v.mp4", tmp_path) == SECONDS * FPS


def test_a_span_that_keeps_failing_ends_the_job_failed_with_its_reason(engine_aws, tracked, monkeypatch):
    _failing_spans(monkeypatch, times=10**6)
    engine_aws.start("job-1", engine_aws.job(VIDEO, THUMB))
    engine_aws.run()
    job = tracked("job-1")
    assert job.status.value == "FAILED"
    assert job.error["reason"] == "ACTIVITY_FAILED"
    assert f"failed {MAX_TASK_ATTEMPTS} times, last: OSError: No space left on device" in job.error["details"]
    assert "outputs/t.jpg" in {o.get("key") for o in job.outputs}  # the other output is not held back
    assert not engine_aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/v.mp4").get("Contents")


def test_a_task_whose_invocations_die_is_dead_lettered_and_its_output_fails(engine_aws, tracked):
    def dies_on_spans(event: dict[str, Any], context: Any) -> Any:
        if json.loads(event["Records"][0]["body"])["kind"] == "span":
            raise TimeoutError("Task timed out after 900.00 seconds")  # Lambda ends the invocation
        return tasks_handler.handler(event, context)

    engine_aws.tasks_handler = dies_on_spans
    engine_aws.start("job-1", engine_aws.job(VIDEO))
    engine_aws.run()
    job = tracked("job-1")
    assert job.status.value == "FAILED"
    assert "the span task never finished" in job.error["details"]
    assert engine_aws.sources["gave_up"].stats.received == 3  # each span, once dead-lettered
    assert len(engine_aws.of_type("WORKFLOW_FAILED")) == 1


def test_a_cancel_before_the_work_starts_runs_nothing_and_ends_the_job_canceled(
    engine_aws, tracked, monkeypatch
):
    calls = _failing_spans(monkeypatch, times=0)
    engine_aws.start("job-1", engine_aws.job(VIDEO))
    engine_aws.cancel("job-1")
    engine_aws.run()
    job = tracked("job-1")
    assert job.status.value == "CANCELED"
    assert calls == [] and len(engine_aws.of_type("WORKFLOW_CANCELED")) == 1
    assert not engine_aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/").get("Contents")


def test_a_cancel_during_the_spans_drops_the_rest_and_writes_no_output(engine_aws, tracked, monkeypatch):
    encode = video.encode_videos
    spans_run: list[int] = []

    def cancel_during_the_first(*args: Any, **kwargs: Any) -> Any:
        spans_run.append(1)
        if len(spans_run) == 1:  # the user cancels while the first span encodes
            engine_aws.cancel("job-1")
            assert engine_aws.poll_commands() == 1
        return encode(*args, **kwargs)

    monkeypatch.setattr(video, "encode_videos", cancel_during_the_first)
    engine_aws.start("job-1", engine_aws.job(VIDEO))
    engine_aws.run()
    job = tracked("job-1")
    assert job.status.value == "CANCELED"
    assert len(spans_run) == 1  # the spans not started did nothing
    assert {r["data"]["activity"]["activityId"] for r in engine_aws.of_type("ACTIVITY_CANCELED")} == {
        "TranscodeAssetStep"  # CT's id for a job's only output
    }
    assert not engine_aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/").get("Contents")


def test_an_unreadable_command_is_dead_lettered_alone(engine_aws, tracked):
    unreadable = {"not json", json.dumps({"type": "RESTART_JOB", "jobId": str(uuid.uuid4())})}
    for body in unreadable:
        engine_aws.sqs.send_message(QueueUrl=engine_aws.input_url, MessageBody=body)
    engine_aws.start("job-1", engine_aws.job(THUMB))
    engine_aws.run()
    assert tracked("job-1").status.value == "COMPLETED"
    # A message moved by the receive that found it over its receive count can still be invisible
    # in the DLQ for that receive's visibility timeout: wait for it, as a DLQ consumer would.
    dead: set[str] = set()
    deadline = time.monotonic() + SAFETY_SECONDS
    while dead != unreadable and time.monotonic() < deadline:
        batch = engine_aws.sqs.receive_message(
            QueueUrl=engine_aws.input_dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        dead |= {m["Body"] for m in batch.get("Messages", [])}
    assert dead == unreadable


def test_an_input_longer_than_the_stack_takes_is_refused_before_any_encode(engine_aws, tracked, monkeypatch):
    monkeypatch.setenv(env.MAX_INPUT_SECONDS, "5")  # read when the engine is first used
    calls = _failing_spans(monkeypatch, times=0)
    engine_aws.start("job-1", engine_aws.job(VIDEO, THUMB))
    engine_aws.run()
    job = tracked("job-1")
    assert (job.status.value, job.error["reason"], job.error["activityId"]) == (
        "FAILED",
        "INPUT_TOO_LARGE",
        "ValidateAssetStep",
    )
    assert "over this stack's 5 s" in job.error["details"] and calls == []


def test_a_run_end_whose_report_was_lost_is_reported_when_the_task_comes_back(
    engine_aws, tracked, monkeypatch
):
    send, lost = runtime._send, []

    def loses_the_first_end(queue: Any, body: dict[str, Any]) -> None:
        if body["type"] == "WORKFLOW_COMPLETED" and not lost:
            lost.append(body)
            raise ConnectionError("the connection dropped")  # the task fails; SQS delivers it again
        send(queue, body)

    monkeypatch.setattr(runtime, "_send", loses_the_first_end)
    engine_aws.start("job-1", engine_aws.job(THUMB))
    engine_aws.run()
    assert lost and len(engine_aws.of_type("WORKFLOW_COMPLETED")) == 1
    assert tracked("job-1").status.value == "COMPLETED"


def test_a_task_given_up_after_its_output_completed_changes_nothing(engine_aws, tracked):
    engine_aws.start("job-1", engine_aws.job(VIDEO))
    engine_aws.run()
    assert tracked("job-1").status.value == "COMPLETED"
    (scheduled,) = engine_aws.of_type("WORKFLOW_SCHEDULED")
    late = json.dumps({"kind": "span", "run_id": scheduled["runId"], "output": 0, "span": 1})
    event = sqs_event([late])
    assert gave_up_handler.handler(event, LambdaContext(function_name="gave_up")) == {"batchItemFailures": []}
    job = tracked("job-1")
    assert (job.status.value, job.error) == ("COMPLETED", None)
    assert not engine_aws.of_type("ACTIVITY_FAILED")
