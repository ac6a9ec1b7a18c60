"""The notifier against moto: a job's real message stream, tracked into the table, read back from
the table's stream, turned into events on an EventBridge bus (read through a rule's SQS target)
and into signed webhooks a local receiver verifies."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from botocore.config import Config
from standardwebhooks.webhooks import Webhook

from functions.notifier import delivery, sender
from functions.notifier import handler as notifier
from functions.notifier.webhooks import MAX_ATTEMPTS
from local.ct_simulator import CtRun, run_messages
from local.event_source import LambdaContext
from local.resources import create_webhooks_table
from tests.integration.conftest import REGION, sqs_event

pytestmark = pytest.mark.integration
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STALL_SECONDS = 1.5


@pytest.fixture
def stream_records(table: str) -> Callable[[], list[dict[str, Any]]]:
    """Every record of the table's stream so far, shaped as Lambda's event source delivers them."""
    streams = boto3.client(
        "dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
    )
    arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)["Table"][
        "LatestStreamArn"
    ]

    def read() -> list[dict[str, Any]]:
        records = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for record in streams.get_records(ShardIterator=iterator)["Records"]:
                records.append(
                    {**record, "eventSource": "aws:dynamodb", "eventSourceARN": arn, "awsRegion": REGION}
                )
        return records

    return read


@pytest.fixture
def bus(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bus whose events land on a queue (through a rule), and a webhook queue."""
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="cpe-jobs")
    seen = sqs.create_queue(QueueName="seen-events")["QueueUrl"]
    seen_arn = sqs.get_queue_attributes(QueueUrl=seen, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="all-jobs", EventBusName="cpe-jobs", EventPattern=json.dumps({"source": ["cpe.serverless"]})
    )
    events.put_targets(Rule="all-jobs", EventBusName="cpe-jobs", Targets=[{"Id": "q", "Arn": seen_arn}])
    hooks = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    monkeypatch.setenv("EVENT_BUS_NAME", "cpe-jobs")
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", hooks)
    monkeypatch.setenv("PROGRESS_STEP", "25")
    create_webhooks_table(boto3.client("dynamodb", region_name=REGION), "owner-webhooks")
    monkeypatch.setenv("WEBHOOKS_TABLE_NAME", "owner-webhooks")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "notifier")
    caches = (
        notifier._settings,
        notifier._notifier,
        notifier._owner_urls,
        delivery._sender,
        delivery._settings,
    )
    for cached in caches:
        cached.cache_clear()
    yield seen
    for cached in caches:
        cached.cache_clear()


def drained(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return bodies


def test_a_jobs_stream_becomes_ordered_deduplicable_state_change_events(invoke_tracker, stream_records, bus):
    run = CtRun("job-e", "run-e", "wf-e", decider_messages=True)
    for message in run_messages(run):  # one message per batch: one write each, as a slow stack reports
        invoke_tracker(sqs_event([message]))
    records = stream_records()
    job_records = [r for r in records if r["dynamodb"]["Keys"]["sk"]["S"] == "JOB"]
    assert len(job_records) > 5
    event = {"Records": records}
    assert notifier.handler(event, LambdaContext(function_name="notifier")) == {"batchItemFailures": []}
    # A redelivered batch publishes the same events again: consumers de-duplicate by id.
    notifier.handler(event, LambdaContext(function_name="notifier"))

    envelopes = drained(bus)
    assert {(m["source"], m["detail-type"]) for m in envelopes} == {("cpe.serverless", "Job State Change")}
    published = [m["detail"] for m in envelopes]
    unique = {e["id"]: e for e in published}
    assert len(published) == 2 * len(unique)
    ordered = sorted(unique.values(), key=lambda e: e["sequence"])
    assert ordered[0]["changes"] == ["created"] and ordered[-1]["status"] == "COMPLETED"
    statuses = [e["status"] for e in ordered]
    assert statuses == sorted(statuses, key=["SUBMITTED", "SCHEDULED", "RUNNING", "COMPLETED"].index)
    assert [e["progress"] for e in ordered] == sorted(e["progress"] for e in ordered)
    assert len(unique) < len(job_records)  # writes that changed nothing a user sees made no event


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers the first ``stalls`` deliveries too late, fails the next ``failures``, then accepts;
    keeps everything it received and what it accepted."""

    failures = 0
    stalls = 0
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    accepted: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        if Receiver.stalls > 0:
            Receiver.stalls -= 1
            time.sleep(STALL_SECONDS)  # the sender has given up by now
            with contextlib.suppress(OSError):
                self.send_response(204)
                self.end_headers()
            return
        if Receiver.failures > 0:
            Receiver.failures -= 1
            self.send_response(503)
        else:
            Receiver.accepted.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="webhook-secrets", SecretString=json.dumps([SECRET]))["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    parameters.clear_caches()  # a secret cached by an earlier test is another account's
    Receiver.failures, Receiver.stalls, Receiver.received, Receiver.accepted = 0, 0, [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    monkeypatch.setenv("TRUSTED_URL_HOSTS", f"127.0.0.1:{server.server_address[1]}")  # it is on localhost
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def _deliveries(queue_url: str, receive_count: int) -> dict[str, Any]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhooks",
            "awsRegion": REGION,
        }
        for m in messages
    ]
    return {"Records": records}


def test_a_receiver_that_fails_three_times_gets_the_event_once_signed(
    invoke_tracker, stream_records, bus, receiver, monkeypatch
):
    monkeypatch.setenv("WEBHOOK_URLS", receiver)
    invoke_tracker(sqs_event(run_messages(CtRun("job-w", "run-w", "wf-w"))[:1]))
    notifier.handler({"Records": stream_records()}, LambdaContext(function_name="notifier"))
    hooks = boto3.client("sqs", region_name=REGION)
    queue = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="webhooks")["QueueUrl"]
    Receiver.failures = 3
    monkeypatch.setattr(sender, "backoff_seconds", lambda attempt, jitter: 0)  # no waiting in the test
    for attempt in range(1, 5):
        answer = delivery.handler(_deliveries(queue, attempt), LambdaContext(function_name="delivery"))
        assert len(answer["batchItemFailures"]) == (1 if attempt <= 3 else 0)
    ((headers, body),) = Receiver.accepted
    lowered = {k.lower(): v for k, v in headers.items()}
    verified = Webhook(SECRET).verify(
        body, {k: lowered[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    )
    assert verified["jobId"] == "job-w" and lowered["webhook-id"] == verified["id"]
    assert hooks.receive_message(QueueUrl=queue).get("Messages") is None


def test_a_receiver_that_times_out_gets_the_same_event_again_until_it_answers_in_time(
    invoke_tracker, stream_records, bus, receiver, monkeypatch
):
    monkeypatch.setenv("WEBHOOK_URLS", receiver)
    monkeypatch.setattr(sender, "TIMEOUT_SECONDS", STALL_SECONDS / 3)
    monkeypatch.setattr(sender, "backoff_seconds", lambda attempt, jitter: 0)
    invoke_tracker(sqs_event(run_messages(CtRun("job-t", "run-t", "wf-t"))[:1]))
    notifier.handler({"Records": stream_records()}, LambdaContext(function_name="notifier"))
    queue = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="webhooks")["QueueUrl"]
    Receiver.stalls = 2
    for attempt in range(1, 4):
        answer = delivery.handler(_deliveries(queue, attempt), LambdaContext(function_name="delivery"))
        assert len(answer["batchItemFailures"]) == (1 if attempt <= 2 else 0)
    # The receiver got it three times (twice answering too late): one event, one id, so a receiver
    # that deduplicates on webhook-id (as Standard Webhooks asks) acts on it once.
    assert len(Receiver.received) == 3 and len(Receiver.accepted) == 1
    ids = {{k.lower(): v for k, v in headers.items()}["webhook-id"] for headers, _ in Receiver.received}
    assert len(ids) == 1 and len({json.loads(body)["id"] for _, body in Receiver.received}) == 1
    assert boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=queue).get("Messages") is None


def test_a_rotated_secret_signs_once_the_cached_one_expires_and_both_verify(
    invoke_tracker, stream_records, bus, receiver, monkeypatch
):
    monkeypatch.setenv("WEBHOOK_URLS", receiver)
    monkeypatch.setattr(delivery, "SECRETS_CACHE_SECONDS", 60)
    monkeypatch.setattr(sender, "backoff_seconds", lambda attempt, jitter: 0)

    class Clock(datetime):  # Powertools' parameter cache reads the time from its module's datetime
        at = datetime(2026, 1, 1)

        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return cls.at

    monkeypatch.setattr(parameters_base, "datetime", Clock)
    invoke_tracker(sqs_event(run_messages(CtRun("job-r", "run-r", "wf-r"))[:1]))
    notifier.handler({"Records": stream_records()}, LambdaContext(function_name="notifier"))
    queue = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="webhooks")["QueueUrl"]
    Receiver.failures = 2
    delivery.handler(_deliveries(queue, 1), LambdaContext(function_name="delivery"))
    rotated = "whsec_" + base64.b64encode(b"the next secret, 24 bytes").decode()
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=os.environ["WEBHOOK_SECRET_ARN"], SecretString=json.dumps([rotated, SECRET])
    )
    delivery.handler(_deliveries(queue, 2), LambdaContext(function_name="delivery"))  # still cached
    Clock.at += timedelta(seconds=61)
    delivery.handler(_deliveries(queue, 3), LambdaContext(function_name="delivery"))
    signatures = [
        {k.lower(): v for k, v in headers.items()}["webhook-signature"].split()
        for headers, _ in Receiver.received
    ]
    assert [len(s) for s in signatures] == [1, 1, 2]
    ((headers, body),) = Receiver.accepted
    lowered = {k.lower(): v for k, v in headers.items()}
    signed = {k: lowered[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    assert Webhook(rotated).verify(body, signed) == Webhook(SECRET).verify(body, signed)


def test_an_unsafe_webhook_url_is_dropped_not_retried(
    invoke_tracker, stream_records, bus, receiver, monkeypatch
):
    monkeypatch.setenv("WEBHOOK_URLS", "http://169.254.169.254/latest")
    invoke_tracker(sqs_event(run_messages(CtRun("job-u", "run-u", "wf-u"))[:1]))
    notifier.handler({"Records": stream_records()}, LambdaContext(function_name="notifier"))
    queue = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="webhooks")["QueueUrl"]
    assert delivery.handler(_deliveries(queue, 1), LambdaContext(function_name="delivery")) == {
        "batchItemFailures": []
    }
    assert Receiver.accepted == []


def test_a_receiver_that_always_fails_ends_in_the_dlq_and_replay_resends(
    invoke_tracker, stream_records, bus, receiver, monkeypatch
):
    from cpe_client.replay import replay_webhooks  # noqa: PLC0415
    from local.event_source import SqsEventSource  # noqa: PLC0415

    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="webhooks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.get_queue_url(QueueName="webhooks")["QueueUrl"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_ATTEMPTS)}
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"RedrivePolicy": json.dumps(redrive)})
    monkeypatch.setenv("WEBHOOK_URLS", receiver)
    monkeypatch.setattr(sender, "backoff_seconds", lambda attempt, jitter: 0)  # the day, compressed
    invoke_tracker(sqs_event(run_messages(CtRun("job-d", "run-d", "wf-d"))[:1]))
    notifier.handler({"Records": stream_records()}, LambdaContext(function_name="notifier"))

    Receiver.failures = 10**6  # always fails
    source = SqsEventSource(sqs, queue, delivery.handler, batch_size=10, function_name="delivery")
    for _ in range(MAX_ATTEMPTS + 2):
        source.poll_once()
    assert source.stats.failed == MAX_ATTEMPTS  # every attempt, then SQS parked it
    parked = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert parked["Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert Receiver.accepted == []

    Receiver.failures = 0  # the receiver is fixed
    assert replay_webhooks(sqs, dlq, queue, job_id="someone-else") == 0
    assert replay_webhooks(sqs, dlq, queue, job_id="job-d") == 1
    source.poll_once()
    ((headers, body),) = Receiver.accepted
    lowered = {k.lower(): v for k, v in headers.items()}
    assert (
        Webhook(SECRET).verify(
            body, {k: lowered[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        )["jobId"]
        == "job-d"
    )
