"""The tracker Lambda handler against moto, fed SQS events as AWS sends them."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from functions.jobs.protocol import MessageType as M
from functions.messaging import redelivery
from functions.store.dynamo import DynamoJobStore
from local.ct_simulator import CtRun, Transcode, ffprobe_result, run_messages
from local.event_source import SqsEventSource
from local.resources import create_queue_with_dlq
from tests.builders import JOB_ID, RUN_ID, act, scheduled
from tests.documented import DOCUMENTED_JOB, DOCUMENTED_RUN, EXECUTION, activity
from tests.integration.conftest import REGION, message_id, sqs_event

pytestmark = pytest.mark.integration


def items(table: str, pk: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    return client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]


def test_documented_messages_build_the_job_record(invoke_tracker, store: DynamoJobStore, calls):
    response = invoke_tracker(sqs_event(DOCUMENTED_RUN))
    assert response == {"batchItemFailures": []}
    job = store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB].job
    assert (job.status.value, job.phase.value, job.progress) == ("COMPLETED", "COMPLETED", 100)
    assert (job.clientName, job.runId, job.workflowId) == (
        "ClientA",
        EXECUTION["runId"],
        EXECUTION["workflowId"],
    )
    assert job.workflowType == {"name": "Transcode", "version": "1.0"}
    assert job.probe is not None and job.probe["streams"][0]["codec_name"] == "h264"
    assert job.outputs[0]["file"] == "/output/video1.mp4"
    assert job.outputs[0]["probe"]["streams"][0]["width"] == 480
    # One write for the whole batch: the job and its run's two links (by runId, by workflowId).
    writes = {
        op: n
        for op, n in calls.items()
        if op in ("PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems")
    }
    assert writes == {"TransactWriteItems": 1}


def test_workflow_scheduled_arriving_last_applies_the_parked_messages(invoke_tracker, store, table):
    assert invoke_tracker(sqs_event(DOCUMENTED_RUN[1:])) == {"batchItemFailures": []}
    assert store.get_jobs([DOCUMENTED_JOB]) == {}
    parked = [i for i in items(table, f"RUN#{EXECUTION['runId']}") if i["sk"]["S"].startswith("PARKED#")]
    assert len(parked) == len(DOCUMENTED_RUN) - 1
    assert invoke_tracker(sqs_event(DOCUMENTED_RUN[:1], first_id=100)) == {"batchItemFailures": []}
    job = store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB].job
    assert job.status.value == "COMPLETED"
    assert [i["sk"]["S"] for i in items(table, f"RUN#{EXECUTION['runId']}")] == ["LINK"]


def test_the_same_message_three_times_changes_the_record_once(invoke_tracker, store, calls):
    invoke_tracker(sqs_event(DOCUMENTED_RUN[:3]))
    preparing = activity("ACTIVITY_PREPARING", "ValidateAssetStep", "ValidateAsset", 1437447261.0)
    assert calls["TransactWriteItems"] == 1
    writes = calls["PutItem"]
    assert invoke_tracker(sqs_event([preparing, preparing, preparing], first_id=10)) == {
        "batchItemFailures": []
    }
    assert calls["PutItem"] == writes + 1
    before = store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB]
    assert invoke_tracker(sqs_event([preparing], first_id=20)) == {"batchItemFailures": []}
    after = store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB]
    assert calls["PutItem"] == writes + 1
    assert after.version == before.version and after.job == before.job


def test_a_poison_message_in_the_middle_fails_alone(invoke_tracker, store, capsys, caplog):
    poison = '{"type": "ACTIVITY_PROGRESS", "time": NaN}'
    response = invoke_tracker(sqs_event([*DOCUMENTED_RUN[:4], poison, *DOCUMENTED_RUN[4:]]))
    assert response == {"batchItemFailures": [{"itemIdentifier": message_id(4)}]}
    assert store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB].job.status.value == "COMPLETED"
    (logged,) = [record for record in caplog.records if record.getMessage() == "message not applied"]
    assert (logged.message_id, logged.reason, logged.retryable) == (message_id(4), "NON_FINITE_NUMBER", False)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (emf,) = [line for line in printed if "_aws" in line]
    counts = [emf[name] for name in ("MessagesReceived", "MessagesApplied", "MessagesRejected", "JobWrites")]
    assert counts == [[11.0], [10.0], [1.0], [1.0]]


def test_a_batch_of_only_poison_reports_every_item(invoke_tracker):
    response = invoke_tracker(sqs_event(["not json", "[]"]))
    assert response == {
        "batchItemFailures": [{"itemIdentifier": message_id(0)}, {"itemIdentifier": message_id(1)}]
    }


def test_a_job_unknown_to_the_table_is_created_from_the_workflow_input(invoke_tracker, store):
    invoke_tracker(sqs_event([scheduled(5.0, client="LegacySite")]))
    loaded = store.get_jobs([JOB_ID])[JOB_ID]
    assert (loaded.job.status.value, loaded.job.clientName, loaded.job.createdAt) == (
        "SCHEDULED",
        "LegacySite",
        5.0,
    )
    assert loaded.job.payloadSource == "workflow"
    assert loaded.version == 1


def test_a_100_kb_ffprobe_result_stays_out_of_the_job_item(invoke_tracker, store, table):
    probe = ffprobe_result(padding=100_000)
    assert len(json.dumps(probe)) > 100_000
    invoke_tracker(sqs_event([scheduled(1), act(M.ACTIVITY_COMPLETED, "ValidateAssetStep", 2, result=probe)]))
    job_items = items(table, f"JOB#{JOB_ID}")
    job_item = next(i for i in job_items if i["sk"]["S"] == "JOB")
    assert len(json.dumps(job_item)) < 12_000
    blobs = [i for i in job_items if i["sk"]["S"].startswith("BLOB#")]
    assert len(blobs) == 1  # the probe, compressed (the small payload stays inline)
    job = store.get_jobs([JOB_ID])[JOB_ID].job
    result = job.runs[RUN_ID].activities["ValidateAssetStep"].result
    assert result is not None and result.value is None and result.held
    assert store.load_value(JOB_ID, result).value == probe
    assert job.probe is not None and job.probe["format"]["duration"] == "61.500000"


@pytest.fixture
def lockstep_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make concurrent invocations read the job at the same moment, so that their writes collide."""
    barrier = threading.Barrier(2)
    read = DynamoJobStore.get_jobs

    def get_jobs(self: DynamoJobStore, job_ids: Any) -> Any:
        jobs = read(self, job_ids)
        try:
            barrier.wait(timeout=0.3)
        except threading.BrokenBarrierError:
            barrier.reset()  # the other invocation is not reading now: go on alone
        return jobs

    monkeypatch.setattr(DynamoJobStore, "get_jobs", get_jobs)


@pytest.fixture
def shared_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two invocations in one process share Powertools' metrics, which Lambda never does (one
    invocation per process at a time): one's flush would empty the other's."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


@pytest.mark.usefixtures("serialized_moto", "lockstep_reads", "shared_process")
def test_two_invocations_racing_on_one_job_lose_nothing(invoke_tracker, store, calls):
    run = CtRun(
        JOB_ID, RUN_ID, "wf-1", transcodes=(Transcode(2, tuple(range(1, 100, 3)), 2),) * 2, output_list=True
    )
    bodies = run_messages(run)
    invoke_tracker(sqs_event(bodies[:1]))
    halves = [bodies[1::2], bodies[2::2]]
    errors: list[BaseException] = []

    def worker(half: list[dict[str, Any]], offset: int) -> None:
        # Many small batches: many chances to collide. A message reported failed (a conflict that
        # outlasted the retries) comes back in a later batch, as SQS redelivers it.
        pending = list(half)
        try:
            while pending:
                batch, pending = pending[:3], pending[3:]
                event = sqs_event(batch, first_id=offset)
                offset += len(batch)
                failed = {item["itemIdentifier"] for item in invoke_tracker(event)["batchItemFailures"]}
                pending += [json.loads(r["body"]) for r in event["Records"] if r["messageId"] in failed]
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(half, 10_000 * (n + 1))) for n, half in enumerate(halves)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    loaded = store.get_jobs([JOB_ID])[JOB_ID]
    attempts = calls["PutItem"] + calls["TransactWriteItems"]
    assert loaded.version is not None and attempts > loaded.version  # writes collided, and were retried
    job = loaded.job
    assert job.status.value == "COMPLETED"
    for step in ("TranscodeAssetStep1", "TranscodeAssetStep2"):
        activity_state = job.runs[RUN_ID].activities[step]
        assert activity_state.reportedProgress == 97
        assert set(activity_state.milestones) == {"STARTED", "PREPARING", "RUNNING", "FINISHING", "COMPLETED"}


def test_poison_ends_in_the_dlq_after_max_receives_while_the_rest_applies(invoke_tracker, store):
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, dlq_url = create_queue_with_dlq(sqs, "cpe-output", visibility_timeout=0, max_receives=5)
    for body in [*DOCUMENTED_RUN[:5], "not json", *DOCUMENTED_RUN[5:]]:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body))
    source = SqsEventSource(sqs, queue_url, lambda event, context: invoke_tracker(event), batch_size=4)
    stats = source.drain(idle_polls=2)
    assert stats.failed == 5
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    assert [m["Body"] for m in dead["Messages"]] == ["not json"]
    assert store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB].job.status.value == "COMPLETED"


def test_a_failed_link_transaction_writes_nothing_and_heals_on_redelivery(
    invoke_tracker, store, table, monkeypatch
):
    commit = TransactWrite._commit
    failures = iter([True])

    def fail_once(self: TransactWrite) -> Any:
        if next(failures, False):
            raise TransactWriteError("InternalServerError: the service failed this time")
        return commit(self)

    monkeypatch.setattr(TransactWrite, "_commit", fail_once)
    assert invoke_tracker(sqs_event(DOCUMENTED_RUN[:1])) == {
        "batchItemFailures": [{"itemIdentifier": message_id(0)}]
    }
    assert items(table, f"RUN#{EXECUTION['runId']}") == []  # atomic: no link without its job
    assert store.get_jobs([DOCUMENTED_JOB]) == {}
    assert invoke_tracker(sqs_event(DOCUMENTED_RUN[2:3], first_id=10)) == {"batchItemFailures": []}  # parked
    assert invoke_tracker(sqs_event(DOCUMENTED_RUN[:1], first_id=20)) == {"batchItemFailures": []}
    job = store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB].job
    assert job.runs[EXECUTION["runId"]].activities["ValidateAssetStep"].status.value == "STARTED"


def test_a_hundred_failures_with_long_unicode_details_are_recorded_within_the_item_limit(
    invoke_tracker, store: DynamoJobStore, table: str
):
    """A run whose 99 activities failed with 1,100 emoji of details each: the details are kept
    beside the job (each over 4 KB of UTF-8) and the job item keeps 1 KB of each, measured in bytes,
    so the item stays under DynamoDB's 400 KB and the batch is applied (it was refused as over the
    limit on every redelivery, and dead-lettered)."""
    details = "\U0001f525" * 1100
    failures = [
        act(
            M.ACTIVITY_FAILED,
            f"TranscodeAssetStep{n}",
            2.0 + n,
            result={"reason": "TRANSCODE_FAIL", "details": details},
        )
        for n in range(99)
    ]
    response = invoke_tracker(sqs_event([scheduled(1), *failures]))
    assert response == {"batchItemFailures": []}
    job = store.get_jobs([JOB_ID])[JOB_ID].job
    assert job.status.value == "FAILED" and len(job.runs[RUN_ID].activities) == 99
    shown = job.runs[RUN_ID].activities["TranscodeAssetStep7"].errorSummary
    assert (
        shown is not None and len(shown["details"].encode()) <= 1024 and shown["details"].endswith("\u2026")
    )
    (item,) = [i for i in items(table, f"JOB#{JOB_ID}") if i["sk"]["S"] == "JOB"]
    assert len(item["record"]["S"].encode()) < 350_000


def test_a_message_that_failed_for_a_passing_reason_comes_back_after_its_backoff_and_poison_does_not(
    invoke_tracker, store, monkeypatch
):
    sqs = boto3.client("sqs", region_name=REGION)
    # An hour-long visibility timeout: only the handler's backoff can bring a message back in this test.
    queue_url, _ = create_queue_with_dlq(sqs, "cpe-output", visibility_timeout=3600, max_receives=5)
    monkeypatch.setenv("OUTPUT_QUEUE_URL", queue_url)
    monkeypatch.setattr(redelivery, "FIRST_BACKOFF_SECONDS", 0)  # back at once
    commit, failures = TransactWrite._commit, iter([True])

    def fail_once(self: TransactWrite) -> Any:
        if next(failures, False):
            raise TransactWriteError("ProvisionedThroughputExceededException: throttled")
        return commit(self)

    monkeypatch.setattr(TransactWrite, "_commit", fail_once)
    for body in (json.dumps(DOCUMENTED_RUN[0]), "not json"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    source = SqsEventSource(sqs, queue_url, lambda event, context: invoke_tracker(event), batch_size=10)
    assert source.poll_once() == 2 and source.stats.failed == 2  # the throttled write and the poison
    assert store.get_jobs([DOCUMENTED_JOB]) == {}
    assert source.poll_once() == 1  # the throttled one, at once; the poison waits out its hour
    assert store.get_jobs([DOCUMENTED_JOB])[DOCUMENTED_JOB].job.runId == EXECUTION["runId"]
