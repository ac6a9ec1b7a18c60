"""Integration fixtures, composable: fake credentials -> moto -> the jobs table -> store / handler.

The table is created from the PynamoDB records (local.resources), never from a third copy of the schema."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import boto3
import botocore.client
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from functions.store.base import TableBinding
from functions.store.dynamo import DynamoJobStore
from functions.tracker import handler as tracker_handler
from local.event_source import LambdaContext
from local.resources import create_jobs_table

REGION = "us-east-1"
TABLE = "jobs-it"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT", "SQS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)  # moto in-process, never a server left configured
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def table(aws: None) -> str:
    create_jobs_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    return TABLE


@pytest.fixture
def dynamo_store(table: str) -> DynamoJobStore:
    return DynamoJobStore(TableBinding(table, REGION))


@pytest.fixture
def store(dynamo_store: DynamoJobStore) -> DynamoJobStore:
    return dynamo_store


@pytest.fixture
def calls() -> Iterator[Counter[str]]:
    """Counts the AWS API calls made (by operation) while the test runs."""
    counter: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        counter[operation] += 1
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield counter


@pytest.fixture
def serialized_moto() -> Iterator[None]:
    """moto's backend is not atomic under threads: serialize the requests that reach it (moto's
    edge), never the project's code."""
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def one_at_a_time(self: BotocoreStubber, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    with mock.patch.object(BotocoreStubber, "__call__", one_at_a_time):
        yield


@pytest.fixture
def invoke_tracker(table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """Calls the real tracker Lambda handler, configured by its environment as on AWS."""
    monkeypatch.setenv("JOBS_TABLE_NAME", table)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    for cached in (tracker_handler._settings, tracker_handler._tracker, tracker_handler._queue):
        cached.cache_clear()

    def invoke(event: dict[str, Any]) -> Any:
        return tracker_handler.handler(event, LambdaContext(function_name="tracker"))

    yield invoke
    for cached in (tracker_handler._settings, tracker_handler._tracker, tracker_handler._queue):
        cached.cache_clear()


def sqs_event(bodies: list[Any], *, first_id: int = 0, sent_at_ms: int = 1_700_000_000_000) -> dict[str, Any]:
    """An SQS event exactly as Lambda's event source mapping sends it."""
    records = []
    for offset, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        number = first_id + offset
        records.append(
            {
                "messageId": f"059f36b4-87a3-44ab-83d2-{number:012d}",
                "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{number}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(sent_at_ms + number),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(sent_at_ms + number + 5),
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:cpe-output",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def message_id(number: int) -> str:
    return f"059f36b4-87a3-44ab-83d2-{number:012d}"


@pytest.fixture
def input_queue(aws: None) -> str:
    return str(boto3.client("sqs", region_name=REGION).create_queue(QueueName="cpe-input")["QueueUrl"])


@pytest.fixture
def invoke_api(table: str, input_queue: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Calls the real API Lambda handler through API Gateway proxy events, configured by its
    environment as on AWS (moto behind it)."""
    from functions.api import handler as api_handler  # noqa: PLC0415 - after the environment is set
    from local.apigateway import call  # noqa: PLC0415

    for name, value in {
        "JOBS_TABLE_NAME": table,
        "INPUT_QUEUE_URL": input_queue,
        "OUTPUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cpe-output",
        "CLIENT_NAME": "ClientA",
    }.items():
        monkeypatch.setenv(name, value)
    for cached in (api_handler._settings, api_handler._service):
        cached.cache_clear()

    def invoke(
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        return call(api_handler.handler, method, path, body, headers=headers, query=query)

    yield invoke
    for cached in (api_handler._settings, api_handler._service):
        cached.cache_clear()
