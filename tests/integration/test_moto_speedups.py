"""The local runs' faster moto (local.moto_speedups) keeps moto's semantics: each behaviour is
checked with moto as it is and with the speed-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any
from unittest import mock

import boto3
import pytest
from moto.sqs.models import sqs_backends

from functions.jobs.errors import RunClaimed
from functions.jobs.protocol import RunLink
from functions.store.base import LoadedJob
from functions.store.dynamo import DynamoJobStore
from local.moto_speedups import fast_sqs, item_level_transaction_rollback, thread_safe_sqs
from tests.builders import JOB_ID, RUN_ID, WORKFLOW_ID, record, scheduled
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration


def stream_records(table: str) -> int:
    arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)["Table"][
        "LatestStreamArn"
    ]
    streams = boto3.client(
        "dynamodbstreams", region_name=REGION, endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com"
    )
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


@pytest.fixture(params=["moto's rollback", "item-level rollback"])
def rollback(request: pytest.FixtureRequest) -> Iterator[None]:
    with item_level_transaction_rollback() if request.param == "item-level rollback" else nullcontext():
        yield


def test_a_failed_transaction_leaves_items_and_stream_as_they_were(
    store: DynamoJobStore, table: str, rollback: None
):
    owner = record([scheduled(1)])
    owner_link = _link(JOB_ID)
    store.save_job(LoadedJob(owner, None), owner, [owner_link], {}, 1.0)
    before = stream_records(table)
    intruder = record([scheduled(2, job_id="intruder")])
    with pytest.raises(RunClaimed):  # the job (first item) is put, then the link's condition fails
        store.save_job(LoadedJob(intruder, None), intruder, [_link("intruder")], {}, 2.0)
    assert store.get_jobs(["intruder"]) == {}
    assert store.lookup_runs(owner_link.lookup_keys())[owner_link.lookup_keys()[0]].link == owner_link
    assert stream_records(table) == before
    again = record([scheduled(3, job_id="second")])
    store.save_job(LoadedJob(again, None), again, [], {}, 3.0)  # the table still works
    assert list(store.get_jobs(["second"])) == ["second"]


@pytest.fixture(params=["moto's SQS", "fast SQS"])
def sqs(aws: None, request: pytest.FixtureRequest) -> Iterator[Any]:
    with fast_sqs() if request.param == "fast SQS" else nullcontext():
        yield boto3.client("sqs", region_name=REGION)


def _counts(sqs: Any, url: str) -> dict[str, str]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=[*names, "ApproximateNumberOfMessagesDelayed"]
    )
    return dict(attributes["Attributes"])


def test_sqs_visibility_delay_and_counts_are_moto_s(sqs: Any):
    url = sqs.create_queue(QueueName="speed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="now")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert _counts(sqs, url) == {
        "ApproximateNumberOfMessages": "1",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "1",
    }
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1)["Messages"]
    assert [m["Body"] for m in received] == ["now"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert _counts(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "1"
    time.sleep(1.1)  # the visibility timeout and the delay both end
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in again) == ["later", "now"]


def test_sqs_messages_past_retention_are_never_received(sqs: Any):
    url = sqs.create_queue(QueueName="old", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="fresh")
    sqs.send_message(QueueUrl=url, MessageBody="stale")
    queue = sqs_backends["123456789012"][REGION].queues["old"]
    stale = next(m for m in queue._messages if m.body == "stale")  # moto's state, to age it
    stale.sent_timestamp -= 61_000
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["fresh"]


def _link(job_id: str) -> RunLink:
    return RunLink(RUN_ID, job_id, WORKFLOW_ID)


@pytest.mark.parametrize("fixed", [False, True], ids=["moto as it is", "thread-safe SQS"])
def test_a_send_beside_two_deletes_is_kept_only_with_the_thread_safe_queue(aws: None, fixed: bool):
    """Delete A pauses inside moto's rebuild of the queue's list; meanwhile delete B and a send run:
    moto as it is loses the sent message (and revives B's); under the queue's lock nothing is lost.
    Events order the threads: nothing here depends on timing."""
    from moto.sqs import models as sqs_models  # noqa: PLC0415 - the class the test pauses in

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="race", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    handles = {
        m["Body"]: m["ReceiptHandle"]
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    }
    paused, resume = threading.Event(), threading.Event()
    original = sqs_models.Message.had_receipt_handle
    calls = 0

    def pausing(self: Any, handle: str) -> bool:
        nonlocal calls
        if threading.current_thread().name == "delete-a" and self.body == "c":
            calls += 1
            if calls == 1:  # inside the rebuild of the list (the check before it stops at "a")
                paused.set()
                resume.wait(10)
        return bool(original(self, handle))

    def delete_b_then_send() -> None:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handles["b"])
        sqs.send_message(QueueUrl=url, MessageBody="new")

    with (
        thread_safe_sqs() if fixed else nullcontext(),
        mock.patch.object(sqs_models.Message, "had_receipt_handle", pausing),
    ):
        first = threading.Thread(
            name="delete-a", target=lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handles["a"])
        )
        first.start()
        assert paused.wait(10)
        second = threading.Thread(target=delete_b_then_send)
        second.start()
        if not fixed:
            second.join(10)  # moto as it is lets it run beside the paused delete
        resume.set()
        first.join(10)
        second.join(10)
    queue = sqs_backends["123456789012"][REGION].get_queue("race")
    left = sorted(message.body for message in queue._messages)
    assert left == (["c", "new"] if fixed else ["b", "c"])
