"""The local stack's SQS event source keeps Lambda's promise: a disabled mapping runs nothing."""

from __future__ import annotations

from typing import Any

import boto3

from local.event_source import SqsEventSource
from local.resources import create_queue_with_dlq
from tests.integration.conftest import REGION


class DisabledDuringTheWait:
    """An SQS client whose receive returns what was sent while the source was being disabled:
    the long poll that began before ``set_enabled(False)`` and ends after it."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.source: SqsEventSource | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def receive_message(self, **params: Any) -> Any:
        assert self.source is not None
        self.source.enabled = False
        return self._sqs.receive_message(**params)


def test_a_message_received_by_a_poll_that_outlived_its_source_being_disabled_is_left_in_the_queue(aws):
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url, _ = create_queue_with_dlq(sqs, "engine-input", visibility_timeout=300, max_receives=5)
    sqs.send_message(QueueUrl=queue_url, MessageBody="START_JOB")
    invoked: list[dict[str, Any]] = []
    client = DisabledDuringTheWait(sqs)
    source = SqsEventSource(client, queue_url, lambda event, context: invoked.append(event))
    client.source = source

    assert source.poll_once(wait_seconds=1) == 0
    assert invoked == []
    # Back at once (not after the queue's 300 s visibility), for whoever polls next.
    left = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == ["START_JOB"]
