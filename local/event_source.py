"""A faithful, small stand-in for Lambda's SQS event source mapping, for the local stack and tests.

What it does, as AWS does: long-polls the queue, gathers up to ``batch_size`` messages or until the
batching window closes, invokes the handler with the exact SQS event shape, deletes the messages the
handler did not report in ``batchItemFailures`` (all of them if it raised: the batch is retried),
and leaves failed messages to reappear after their visibility timeout; the queue's redrive policy
moves them to the DLQ after ``maxReceiveCount`` receives. What it does not do: scale pollers with
the backlog, or apply Lambda's concurrency limits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

Handler = Callable[[dict[str, Any], Any], Any]
_log = logging.getLogger(__name__)


def dropping_disabled_metrics(handler: Handler) -> Handler:
    """The handler with its Powertools metrics dropped after each invocation. Local runs disable
    metrics, and Powertools (3.37) then skips the flush that would clear them: the values pile up
    across invocations, and every 100 of them are printed to stdout anyway."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if is_metrics_disabled():
                Metrics().clear_metrics()

    return invoke


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str = "local-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local-function"
    log_stream_name: str = "local"
    timeout_ms: int = 30_000
    _deadline: float = field(default=0.0, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000)) if self._deadline else self.timeout_ms

    @classmethod
    def invocation(cls, function_name: str, timeout_ms: int) -> LambdaContext:
        """The context of an invocation starting now: its time left counts down from ``timeout_ms``."""
        return cls(
            function_name=function_name, timeout_ms=timeout_ms, _deadline=time.monotonic() + timeout_ms / 1000
        )


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the SQS event Lambda sends, from a ``ReceiveMessage`` entry."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": {key: str(value) for key, value in message.get("Attributes", {}).items()},
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass
class PollStats:
    invocations: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    errors: int = 0


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        batching_window: float = 0.0,
        function_name: str = "local-function",
        timeout_ms: int = 30_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``clock`` and ``sleep`` are time's (a benchmark passes a virtual clock's)."""
        self._clock = clock
        self._sleep = sleep
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._batch_size = batch_size
        self._window = batching_window
        self._function_name = function_name
        self._timeout_ms = timeout_ms
        self.enabled = True  # a disabled mapping (UpdateEventSourceMapping Enabled=false) is not polled
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self._queue_arn = attributes["QueueArn"]
        self._region = self._queue_arn.split(":")[3]
        self.stats = PollStats()

    @property
    def function_name(self) -> str:
        return self._function_name

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Gather one batch and invoke the handler with it. Returns the number of messages received."""
        messages: list[dict[str, Any]] = []
        deadline = self._clock() + self._window
        while len(messages) < self._batch_size:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(10, self._batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            messages += received
            remaining = deadline - self._clock()
            if remaining <= 0 or (not received and not messages):
                break
            if not received:  # within the batching window: wait a little for more
                self._sleep(min(0.05, remaining))
        if messages and not self.enabled:
            # Disabled while this poll waited: the messages go back untouched, so that a source
            # disabled before a message was sent never runs it (a real mapping's poller stops too).
            self._release(messages)
            return 0
        if messages:
            self._invoke(messages)
        return len(messages)

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(chunk)
                ],
            )

    def drain(self, idle_polls: int = 1, wait_seconds: int = 0) -> PollStats:
        """Poll until the queue returns nothing ``idle_polls`` times in a row."""
        idle = 0
        while idle < idle_polls:
            idle = 0 if self.poll_once(wait_seconds) else idle + 1
        return self.stats

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, self._queue_arn, self._region) for m in messages]}
        context = LambdaContext.invocation(self._function_name, self._timeout_ms)
        self.stats.invocations += 1
        self.stats.received += len(messages)
        try:
            response = self._handler(event, context) or {}
        except Exception:  # noqa: BLE001 - Lambda turns any error into a retry of the whole batch
            _log.exception("%s failed; the batch of %d will be retried", self._function_name, len(messages))
            self.stats.errors += 1
            self.stats.failed += len(messages)
            return
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        self.stats.failed += len(messages) - len(done)
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            self.stats.deleted += len(chunk)


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, for the patterns this stack uses: nested keys, lists of values."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(pattern, list):
        return value in pattern
    return bool(pattern == value)


class DynamoStreamEventSource:
    """Lambda's DynamoDB stream event source, small: reads every shard from its latest position,
    keeps the records the mapping's filters match, invokes the handler with batches of up to
    ``batch_size`` in stream order, and on ``batchItemFailures`` (or an error) retries from the
    first failed record, up to ``retry_attempts`` times, then sends a failure notice to the
    on-failure queue and moves on. Not done: bisecting, parallelization factor, shard splits."""

    def __init__(
        self,
        streams: Any,
        sqs: Any,
        stream_arn: str,
        handler: Handler,
        *,
        batch_size: int,
        filters: list[dict[str, Any]],
        retry_attempts: int,
        on_failure_queue_url: str | None,
        function_name: str = "local-function",
    ) -> None:
        self._streams = streams
        self._sqs = sqs
        self._arn = stream_arn
        self._handler = handler
        self._batch_size = batch_size
        self._filters = filters
        self._retries = retry_attempts
        self._failure_queue = on_failure_queue_url
        self._function_name = function_name
        self.enabled = True
        self._iterators: dict[str, str] = {}
        self._pending: list[dict[str, Any]] = []
        self._attempts = 0
        self.stats = PollStats()
        for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            self._iterators[shard["ShardId"]] = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    @property
    def function_name(self) -> str:
        return self._function_name

    def poll_once(self, wait_seconds: int = 0) -> int:
        if not self._pending:
            for shard, iterator in list(self._iterators.items()):
                answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                self._iterators[shard] = answer["NextShardIterator"]
                records = [
                    {**r, "eventSourceARN": self._arn, "eventSource": "aws:dynamodb"}
                    for r in answer["Records"]
                ]
                self._pending += [
                    r for r in records if not self._filters or any(matches(f, r) for f in self._filters)
                ]
        if not self._pending:
            return 0
        batch = self._pending[: self._batch_size]
        self.stats.invocations += 1
        self.stats.received += len(batch)
        try:
            response = (
                self._handler({"Records": batch}, LambdaContext(function_name=self._function_name)) or {}
            )
            failed = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
        except Exception:  # noqa: BLE001 - Lambda retries the batch
            _log.exception("%s failed on a stream batch", self._function_name)
            failed = [batch[0]["dynamodb"]["SequenceNumber"]]
        if not failed:
            del self._pending[: len(batch)]
            self._attempts = 0
            return len(batch)
        first = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
        del self._pending[:first]
        self._attempts += 1
        self.stats.failed += len(batch) - first
        if self._attempts > self._retries:
            record = self._pending.pop(0)
            self._attempts = 0
            if self._failure_queue:
                notice = {
                    "requestContext": {"condition": "RetryAttemptsExhausted"},
                    "record": record["dynamodb"],
                }
                self._sqs.send_message(
                    QueueUrl=self._failure_queue, MessageBody=json.dumps(notice, default=str)
                )
        return len(batch)


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """Seconds between two firings of an EventBridge ``rate(...)`` expression."""
    match = _RATE.match(expression)
    if match is None:
        raise ValueError(f"only rate(...) schedules run locally, not {expression!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2].removesuffix("s")]


@dataclass
class ScheduleEventSource:
    """An EventBridge schedule rule with a function as its target: the function is invoked with
    the "Scheduled Event" shape every ``every_seconds``; a failed invocation is not retried (the
    targets here have no retries: the next firing does the work)."""

    handler: Handler
    rule_arn: str
    every_seconds: float
    function_name: str = "local-function"
    timeout_ms: int = 30_000
    enabled: bool = True
    stats: PollStats = field(default_factory=PollStats)

    def fire(self) -> Any:
        parts = self.rule_arn.split(":")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": parts[4],
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": parts[3],
            "resources": [self.rule_arn],
            "detail": {},
        }
        context = LambdaContext.invocation(self.function_name, self.timeout_ms)
        self.stats.invocations += 1
        try:
            return self.handler(event, context)
        except Exception:  # noqa: BLE001 - the schedule goes on, as EventBridge does
            _log.exception("%s failed on a scheduled event", self.function_name)
            self.stats.errors += 1
            return None
