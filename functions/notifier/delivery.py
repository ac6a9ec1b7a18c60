"""Lambda entry point: delivers queued webhooks, signed per Standard Webhooks, with exponential
backoff and jitter through the queue's visibility timeout (at least 24 hours of attempts), after
which the queue's redrive policy parks the message in its DLQ (functions.notifier.sender)."""

from __future__ import annotations

import json
import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.messaging.sqs import SqsQueue
from functions.metrics import Metric
from functions.notifier.sender import Outcome, WebhookSender
from functions.notifier.settings import DeliverySettings
from functions.shared import aws
from functions.shared.urls import UrlPolicy
from functions.webhooks.dynamo import webhook_registry

logger = Logger()
metrics = Metrics()
# A failed delivery already scheduled its own retry (its visibility timeout): it is reported as an
# item failure even when the whole batch failed, rather than failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
SECRETS_CACHE_SECONDS = 300


class DeliveryFailed(RuntimeError):
    pass


@cache
def _settings() -> DeliverySettings:
    return DeliverySettings.from_environ(os.environ)


@cache
def _sender() -> WebhookSender:
    settings = _settings()
    queue = SqsQueue(lambda: aws.client("sqs", region=settings.region), settings.webhook_queue_url)
    registry = webhook_registry(
        settings.webhooks_table, region=settings.region, endpoint=settings.dynamodb_endpoint
    )
    return WebhookSender(
        queue, secrets, policy=UrlPolicy(trusted=settings.trusted_url_hosts), owner_webhook=registry.get
    )


def secrets() -> list[str]:
    """The active signing secrets, from Secrets Manager: one string, or a JSON list of them while
    a rotation keeps two. Powertools caches the value for ``SECRETS_CACHE_SECONDS``, so a rotation
    is signed with within that time."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - boto3 at first use

    value = parameters.get_secret(_settings().webhook_secret_arn, max_age=SECRETS_CACHE_SECONDS)
    parsed = json.loads(value) if value.strip().startswith("[") else [value]
    return [str(secret) for secret in parsed]


def handle_record(record: SQSRecord) -> None:
    attempt = _sender().attempt(
        record.body, record.receipt_handle, int(record.attributes.approximate_receive_count), int(time.time())
    )
    if attempt.outcome is Outcome.DELIVERED:
        metrics.add_metric(name=Metric.WEBHOOKS_DELIVERED, unit=MetricUnit.Count, value=1)
    elif attempt.outcome is Outcome.REFUSED:
        logger.warning("webhook URL refused", reason=attempt.detail)
        metrics.add_metric(name=Metric.WEBHOOKS_REFUSED, unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name=Metric.WEBHOOK_ATTEMPTS_FAILED, unit=MetricUnit.Count, value=1)
        raise DeliveryFailed(f"{attempt.detail}; next in {attempt.next_in} s")


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
