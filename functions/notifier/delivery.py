"""Lambda entry point: delivers queued webhooks, signed per Standard Webhooks, with exponential
backoff and jitter through the queue's visibility timeout (at least 24 hours of attempts), after
which the queue's redrive policy parks the message in its DLQ."""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import env
from functions.notifier.webhooks import backoff_seconds, signed_headers
from functions.shared.urls import UnsafeUrl, check_fetchable_url

logger = Logger()
metrics = Metrics()
# A failed delivery already scheduled its own retry (its visibility timeout): it is reported as an
# item failure even when the whole batch failed, rather than failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
TIMEOUT_SECONDS = 10
# Attempts before the DLQ: their least total span (every jitter at its lowest) is over 24 hours
# (tests/unit/test_notifier.py). The queue's maxReceiveCount is this number.
MAX_ATTEMPTS = 18
SECRETS_CACHE_SECONDS = 300


class DeliveryFailed(RuntimeError):
    pass


@cache
def _sqs() -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("sqs")


def secrets() -> list[str]:
    """The active signing secrets, from Secrets Manager: one string, or a JSON list of them while
    a rotation keeps two. Powertools caches the value for ``SECRETS_CACHE_SECONDS``, so a rotation
    is signed with within that time."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - boto3 at first use

    value = parameters.get_secret(os.environ[env.WEBHOOK_SECRET_ARN], max_age=SECRETS_CACHE_SECONDS)
    parsed = json.loads(value) if value.strip().startswith("[") else [value]
    return [str(secret) for secret in parsed]


def deliver(url: str, event: dict[str, Any], *, allow_private: bool, now: int) -> int:
    check_fetchable_url(
        url,
        schemes=frozenset({"https"} | ({"http"} if allow_private else set())),
        allow_private=allow_private,
    )
    body = json.dumps(event, separators=(",", ":"))
    request = urllib.request.Request(url, data=body.encode(), method="POST")  # noqa: S310 - checked above
    for name, value in signed_headers(secrets(), event["id"], now, body).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@cache
def _settings() -> tuple[str, bool]:
    """(delivery queue URL, whether private URLs are allowed: the local stack only), read once."""
    return os.environ[env.WEBHOOK_QUEUE_URL], os.environ.get(env.ALLOW_PRIVATE_URLS, "false") == "true"


def handle_record(record: SQSRecord) -> None:
    message = json.loads(record.body)
    attempt = int(record.attributes.approximate_receive_count)
    queue_url, allow_private = _settings()
    try:
        status = deliver(message["url"], message["event"], allow_private=allow_private, now=int(time.time()))
    except UnsafeUrl as exc:
        logger.warning("webhook URL refused", url=message["url"], reason=str(exc))
        metrics.add_metric(name="WebhooksRefused", unit=MetricUnit.Count, value=1)
        return  # never deliverable: dropped, not retried
    except OSError as exc:
        status, detail = 0, str(exc)
    else:
        detail = f"HTTP {status}"
    if 200 <= status < 300:
        metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=1)
        return
    delay = backoff_seconds(attempt, random.random())  # noqa: S311 - jitter, not security
    _sqs().change_message_visibility(
        QueueUrl=queue_url,
        ReceiptHandle=record.receipt_handle,
        VisibilityTimeout=delay,
    )
    metrics.add_metric(name="WebhookAttemptsFailed", unit=MetricUnit.Count, value=1)
    raise DeliveryFailed(f"attempt {attempt} to {message['url']}: {detail}; next in {delay} s")


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
