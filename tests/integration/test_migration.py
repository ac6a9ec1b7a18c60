"""Switching from the PHP ClientPoller to the tracker in the middle of running jobs, as
docs/migrating.md tells: the poller stops, the tracker consumes the same output queue, and the
jobs the poller saw scheduled are adopted (``cpe_client adopt``) from what the app recorded."""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest

from cpe_client.adopt import InFlightJob, adopt, read_in_flight
from cpe_client.client import ClientError
from functions.store.dynamo import DynamoJobStore
from local.ct_simulator import disturb, expected_status, interleave, random_run, run_messages
from local.event_source import SqsEventSource
from local.resources import create_queue_with_dlq
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration
START = 1_764_500_000.0
# What a PHP app's handlers keep of the reports they handled: the end of each activity (its result).
ENDED = ("ACTIVITY_COMPLETED", "ACTIVITY_FAILED", "ACTIVITY_TIMEOUT")


def _run_of(body: dict[str, Any]) -> str:
    return str(body["runId"] if body["type"] == "WORKFLOW_SCHEDULED" else body["data"]["workflow"]["runId"])


def _recorded_by_the_app(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[InFlightJob]:
    """The jobs the app saw scheduled and had not seen end, as it exports them for adoption."""
    running_after = {_run_of(body) for body in after}
    return [
        InFlightJob(
            job_id=body["jobId"],
            run_id=body["runId"],
            workflow_id=body["workflowId"],
            input=body["input"],
            scheduled_at=body["time"],
            messages=[m for m in before if m["type"] in ENDED and _run_of(m) == body["runId"]],
        )
        for body in before
        if body["type"] == "WORKFLOW_SCHEDULED" and body["runId"] in running_after
    ]


def _send(sqs: Any, queue_url: str, bodies: list[dict[str, Any]]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies[start : start + 10])
        ]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def test_a_switch_in_the_middle_of_running_jobs_ends_with_every_job_right(
    invoke_tracker, store: DynamoJobStore, table: str
):
    rng = random.Random(20261201)
    runs = [random_run(rng, index, START) for index in range(24)]
    stream = interleave([run_messages(run) for run in runs], concurrency=8, rng=rng, start=START)
    switch = len(stream) // 2
    before, after = stream[:switch], disturb(stream[switch:], rng)  # SQS duplicates and reorders
    in_flight = _recorded_by_the_app(before, after)
    assert len(in_flight) >= 4 and any(job.messages for job in in_flight)  # the case is a real one

    # The poller has stopped (it consumed ``before``); the tracker takes the queue over.
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, dead_letters = create_queue_with_dlq(sqs, "cpe-output", visibility_timeout=30, max_receives=5)
    tracker = SqsEventSource(sqs, queue_url, lambda event, context: invoke_tracker(event), batch_size=10)
    _send(sqs, queue_url, after[: len(after) // 2])
    tracker.drain(idle_polls=2)  # the adopted runs' messages wait, parked
    exported = "\n".join(json.dumps(_as_exported(job)) for job in in_flight)
    sent = adopt(sqs, queue_url, read_in_flight(exported.splitlines()), now=START + 10_000)
    assert sent == sum(1 + len(job.messages) for job in in_flight)
    _send(sqs, queue_url, after[len(after) // 2 :])
    tracker.drain(idle_polls=2)
    adopt(sqs, queue_url, in_flight, now=START + 20_000)  # adopting twice changes nothing
    tracker.drain(idle_polls=2)

    reported_after = {_run_of(body) for body in after}
    expected = {run.job_id: expected_status(run) for run in runs if run.run_id in reported_after}
    jobs = {job_id: loaded.job for job_id, loaded in store.get_jobs(list(expected)).items()}
    assert {job_id: job.status.value for job_id, job in jobs.items()} == expected
    by_id = {run.job_id: run for run in runs}
    for job_id, job in jobs.items():
        if job.status.value == "COMPLETED":
            assert len(job.outputs) == len(by_id[job_id].transcodes), job_id
            assert job.progress == 100
    # Nothing left parked or dead: every message found its job.
    assert sqs.receive_message(QueueUrl=dead_letters).get("Messages") is None
    scanned = boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"]
    assert not [item for item in scanned if item["sk"]["S"].startswith("PARKED#")]


def _as_exported(job: InFlightJob) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "runId": job.run_id,
        "workflowId": job.workflow_id,
        "input": job.input,
        "scheduledAt": job.scheduled_at,
        "messages": list(job.messages),
    }


def test_without_adoption_the_runs_the_poller_saw_scheduled_stay_unknown(invoke_tracker, store):
    """Why adopt: the same switch without it leaves those jobs out of the tracker's record."""
    rng = random.Random(20261201)
    runs = [random_run(rng, index, START) for index in range(24)]
    stream = interleave([run_messages(run) for run in runs], concurrency=8, rng=rng, start=START)
    before, after = stream[: len(stream) // 2], stream[len(stream) // 2 :]
    in_flight = _recorded_by_the_app(before, after)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, _ = create_queue_with_dlq(sqs, "cpe-output", visibility_timeout=30, max_receives=5)
    _send(sqs, queue_url, after)
    SqsEventSource(sqs, queue_url, lambda event, context: invoke_tracker(event), batch_size=10).drain(
        idle_polls=2
    )
    assert store.get_jobs([job.job_id for job in in_flight]) == {}


_OF_RUN_S = {"workflow": {"runId": "s"}}
TYPE = {"name": "Transcode", "version": "1.0"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[1]", "line 2: not a JSON object"),
        ('{"jobId": "j"}', "line 2: runId must be a non-empty string"),
        ('{"jobId": "j", "runId": "r", "input": []}', "line 2: input must be the job's JSON object"),
        (
            '{"jobId": "j", "runId": "r", "scheduledAt": "yesterday"}',
            "line 2: scheduledAt must be epoch seconds",
        ),
        ('{"jobId": "j", "runId": "r", "messages": [{}]}', "line 2: messages must be a list"),
        ('{"jobId": "j", "runId": "r", "job": 1}', "line 2: unknown fields \\['job'\\]"),
        ("{", "line 2: Expecting property name"),
        ('{"jobId": "j", "runId": "r", "scheduledAt": NaN}', "line 2: NaN is not a JSON number"),
        ('{"jobId": "j", "runId": "r", "runId": "s"}', "line 2: a field given twice: \\['runId'\\]"),
        (
            '{"jobId": "j", "runId": "r", "scheduledAt": 1764500000123}',
            "line 2: scheduledAt must be epoch seconds",
        ),
        ('{"jobId": "j", "runId": "r", "scheduledAt": 1' + "0" * 400 + "}", "line 2: scheduledAt must be"),
        (
            json.dumps(
                {"jobId": "j", "runId": "r", "messages": [{"type": "ACTIVITY_COMPLETED", "data": _OF_RUN_S}]}
            ),
            "line 2: messages: a message of run 's', not of this job's run",
        ),
        (
            '{"jobId": "j", "runId": "r", "messages": [{"type": "WORKFLOW_SCHEDULED"}]}',
            "line 2: messages: no WORKFLOW",
        ),
        ('{"jobId": "j", "runId": "r", "workflowType": "Transcode"}', "line 2: workflowType must be"),
        ("[" * 100_000 + "]" * 100_000, "line 2: nested too deeply"),
        (b'{"jobId": "\xff"}', "line 2: 'utf-8' codec can't decode"),
    ],
)
def test_an_export_with_a_bad_line_is_refused_naming_it(line: str | bytes, reason: str):
    with pytest.raises(ClientError, match=reason):
        read_in_flight([b'{"jobId": "ok", "runId": "r"}', line])


class _RecordingQueue:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.batches.append([entry["MessageBody"] for entry in Entries])
        return {}


def test_jobs_the_tracker_has_are_refused_unless_on_this_run_which_are_skipped():
    sqs = _RecordingQueue()
    runs = {"api-job": "", "other-run": "r9", "adopted": "r2"}
    with pytest.raises(
        ClientError, match=r"on another run or on none, not adopted: \['api-job', 'other-run'\]"
    ):
        adopt(sqs, "url", [InFlightJob("api-job", "r1"), InFlightJob("other-run", "r3")], tracked=runs.get)
    assert sqs.batches == []  # nothing sent
    sent = adopt(
        sqs, "url", [InFlightJob("adopted", "r2"), InFlightJob("new", "r4")], tracked=runs.get, now=1.0
    )
    assert sent == 1 and [json.loads(b)["jobId"] for b in sqs.batches[0]] == ["new"]


def test_batches_hold_at_most_256_kb_in_all():
    sqs = _RecordingQueue()
    big = [InFlightJob(f"j{n}", f"r{n}", input={"x": "y" * 100_000}) for n in range(3)]
    assert adopt(sqs, "url", big, now=1.0) == 3
    assert [len(batch) for batch in sqs.batches] == [2, 1]
    assert all(sum(len(body.encode()) for body in batch) <= 256 * 1024 for batch in sqs.batches)


def test_the_adopt_command_sends_each_jobs_messages_and_refuses_a_bad_file(aws, tmp_path, capsys):
    from cpe_client.cli import run  # noqa: PLC0415

    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, _ = create_queue_with_dlq(sqs, "cpe-output", visibility_timeout=30, max_receives=5)
    exported = tmp_path / "in-flight.jsonl"
    kept = {"type": "ACTIVITY_COMPLETED", "time": 2.0, "data": {"workflow": {"runId": "r1"}}}
    exported.write_text(
        json.dumps(
            {
                "jobId": "j1",
                "runId": "r1",
                "workflowId": "w1",
                "workflowType": TYPE,
                "scheduledAt": 1.0,
                "messages": [kept],
            }
        )
        + "\n\n"
        + json.dumps({"jobId": "j2", "runId": "r2"})
        + "\n"
    )
    assert (
        run(["--region", REGION, "adopt", str(exported), "--output-queue-url", queue_url, "--no-check"]) == 0
    )
    assert json.loads(capsys.readouterr().out) == {"adopted": 2, "messagesSent": 3}
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted((json.loads(m["Body"]) for m in received), key=lambda b: (b["type"], b.get("jobId", "")))
    assert bodies[0] == kept
    assert bodies[1] == {
        "time": 1.0,
        "type": "WORKFLOW_SCHEDULED",
        "jobId": "j1",
        "runId": "r1",
        "workflowId": "w1",
        "workflowType": TYPE,
        "input": {},
    }
    assert (bodies[2]["jobId"], bodies[2]["runId"], "workflowId" in bodies[2]) == ("j2", "r2", False)

    exported.write_text('{"jobId": "j3"}\n')
    assert (
        run(["--region", REGION, "adopt", str(exported), "--output-queue-url", queue_url, "--no-check"]) == 2
    )
    assert "line 1: runId must be a non-empty string" in capsys.readouterr().err
    missing = str(tmp_path / "missing")
    assert run(["--region", REGION, "adopt", missing, "--output-queue-url", queue_url, "--no-check"]) == 2
    assert "cannot read" in capsys.readouterr().err
    exported.write_text(json.dumps({"jobId": "j4", "runId": "r4"}))
    assert (
        run(["--region", REGION, "--endpoint", "", "adopt", str(exported), "--output-queue-url", queue_url])
        == 2
    )
    assert "(or --no-check" in capsys.readouterr().err  # no API to ask: said, not guessed


def test_messages_sqs_refuses_are_named_and_a_message_over_its_limit_sends_nothing():
    class RefusingSecond:
        def __init__(self) -> None:
            self.sent: list[str] = []

        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
            self.sent += [e["MessageBody"] for e in Entries]
            return {"Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False}]}

    sqs = RefusingSecond()
    jobs = [InFlightJob("j1", "r1"), InFlightJob("j2", "r2")]
    with pytest.raises(ClientError, match=r"refused messages of jobs \['j2'\]"):
        adopt(sqs, "url", jobs, now=1.0)
    huge = InFlightJob("j3", "r3", input={"x": "y" * 300_000})
    with pytest.raises(ClientError, match=r"over SQS's 256 KB for jobs \['j3'\]: nothing was sent"):
        adopt(sqs, "url", [InFlightJob("j4", "r4"), huge], now=1.0)
    assert len(sqs.sent) == 2  # the first call's only
