"""The queue and bus adapters' own logic (with stand-in SDK clients), and the notifier on the
in-memory twins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.jobs.model import Job, JobStatus
from functions.messaging.base import EventBusUnavailable, QueueUnavailable
from functions.messaging.events import EventBridgeBus
from functions.messaging.memory import MemoryEventBus, MemoryQueue
from functions.messaging.sqs import BATCH_ATTEMPTS, SqsQueue
from functions.notifier.changes import DETAIL_TYPE, SOURCE
from functions.notifier.logic import StateChangeNotifier
from functions.store.base import LoadedJob


class BatchingClient:
    """An SQS client whose SendMessageBatch fails the entries it is told to, call after call."""

    def __init__(self, failures: list[dict[str, list[str]]]) -> None:
        self.failures = failures  # per call: {"retryable": [ids], "sender": [ids]}
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls.append([entry["MessageBody"] for entry in Entries])
        plan = self.failures.pop(0) if self.failures else {}
        failed = [
            {"Id": entry["Id"], "Code": "InternalError", "SenderFault": False}
            for entry in Entries
            if entry["MessageBody"] in plan.get("retryable", [])
        ] + [
            {"Id": entry["Id"], "Code": "InvalidParameterValue", "SenderFault": True}
            for entry in Entries
            if entry["MessageBody"] in plan.get("sender", [])
        ]
        return {"Successful": [], "Failed": failed}


def test_entries_sqs_failed_without_raising_are_sent_again():
    client = BatchingClient([{"retryable": ["b", "c"]}, {"retryable": ["c"]}])
    SqsQueue(lambda: client, "https://q").send_batch(["a", "b", "c"])
    assert client.calls == [["a", "b", "c"], ["b", "c"], ["c"]]


def test_entries_that_keep_failing_raise_instead_of_being_lost():
    client = BatchingClient([{"retryable": ["b"]}] * BATCH_ATTEMPTS)
    with pytest.raises(QueueUnavailable, match="1 of 2"):
        SqsQueue(lambda: client, "https://q").send_batch(["a", "b"])
    assert len(client.calls) == BATCH_ATTEMPTS


def test_an_entry_sqs_refuses_is_not_retried_and_raises():
    client = BatchingClient([{"sender": ["b"]}])
    with pytest.raises(QueueUnavailable, match="InvalidParameterValue") as raised:
        SqsQueue(lambda: client, "https://q").send_batch(["a", "b"])
    assert len(client.calls) == 1 and not raised.value.throttled


def test_batches_hold_ten_entries():
    client = BatchingClient([])
    SqsQueue(lambda: client, "https://q").send_batch([str(n) for n in range(23)])
    assert [len(call) for call in client.calls] == [10, 10, 3]


def test_the_client_is_made_at_first_use_only():
    made: list[BatchingClient] = []
    queue = SqsQueue(lambda: made.append(BatchingClient([])) or made[-1], "https://q")
    assert made == []
    queue.send_batch(["a"])
    queue.send_batch(["b"])
    assert len(made) == 1


class Bus:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return self.answer


def test_an_event_eventbridge_refuses_raises():
    refused = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}],
    }
    with pytest.raises(EventBusUnavailable) as raised:
        EventBridgeBus(Bus(refused), "bus").publish("s", "d", {"id": "1"})
    assert raised.value.throttled
    EventBridgeBus(Bus({"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}), "bus").publish("s", "d", {})


def _job(status: JobStatus, version: int, callback: str | None = None) -> LoadedJob:
    return LoadedJob(Job(jobId="j1", status=status, callbackUrl=callback, createdAt=1.0), version)


def test_a_change_is_published_once_and_queued_for_every_webhook_target():
    bus, queue = MemoryEventBus(), MemoryQueue()
    notifier = StateChangeNotifier(bus, queue, webhook_urls=["https://a.example/h"], progress_step=10)
    notified = notifier.notify(
        _job(JobStatus.SUBMITTED, 1), _job(JobStatus.RUNNING, 2, "https://cb.example/x")
    )
    assert notified.event is not None and notified.webhooks == 2
    ((source, detail_type, detail),) = bus.published
    assert (source, detail_type, detail["status"]) == (SOURCE, DETAIL_TYPE, "RUNNING")
    assert [json.loads(body)["url"] for body in queue.sent] == ["https://a.example/h", "https://cb.example/x"]
    assert all(json.loads(body)["event"] == detail for body in queue.sent)


def test_a_write_no_user_would_notice_publishes_nothing():
    bus, queue = MemoryEventBus(), MemoryQueue()
    notifier = StateChangeNotifier(bus, queue, webhook_urls=["https://a.example/h"], progress_step=10)
    assert notifier.notify(_job(JobStatus.RUNNING, 1), _job(JobStatus.RUNNING, 2)).event is None
    assert bus.published == [] and queue.sent == []


def test_a_bus_that_refuses_fails_the_write_before_any_webhook_is_queued():
    bus, queue = MemoryEventBus(), MemoryQueue()
    bus.failures.append(EventBusUnavailable("down"))
    notifier = StateChangeNotifier(bus, queue, webhook_urls=["https://a.example/h"], progress_step=10)
    with pytest.raises(EventBusUnavailable):
        notifier.notify(None, _job(JobStatus.SUBMITTED, 1))
    assert queue.sent == []
