"""Lambda entry point: the jobs table's stream -> "Job State Change" events on EventBridge, and
one delivery message per webhook target on the delivery queue (delivery never blocks the stream).

Records are processed one by one with partial batch failures (Powertools BatchProcessor), so a
failed record is retried from where it failed; the event id is stable, so a retried record
publishes an event consumers can recognize as the same."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.messaging.events import EventBridgeBus
from functions.messaging.sqs import SqsQueue
from functions.metrics import Metric
from functions.notifier.logic import OwnerUrls, StateChangeNotifier
from functions.notifier.settings import NotifierSettings
from functions.shared import aws
from functions.store.stream import job_image
from functions.webhooks.dynamo import webhook_registry

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def _settings() -> NotifierSettings:
    return NotifierSettings.from_environ(os.environ)


@cache
def _owner_urls() -> OwnerUrls:
    settings = _settings()
    registry = webhook_registry(
        settings.webhooks_table, region=settings.region, endpoint=settings.dynamodb_endpoint
    )
    return OwnerUrls(registry.url_of)


@cache
def _notifier() -> StateChangeNotifier:
    settings = _settings()
    return StateChangeNotifier(
        EventBridgeBus(aws.client("events", region=settings.region), settings.event_bus),
        SqsQueue(lambda: aws.client("sqs", region=settings.region), settings.webhook_queue_url),
        webhook_urls=settings.webhook_urls,
        progress_step=settings.progress_step,
        owner_url=_owner_urls(),
    )


def handle_record(record: DynamoDBRecord) -> None:
    new = job_image(record.dynamodb.new_image if record.dynamodb else None)
    if new is None:
        return  # a removed job, or another kind of item
    old = job_image(record.dynamodb.old_image if record.dynamodb else None)
    notified = _notifier().notify(old, new)
    if notified.event is None:
        metrics.add_metric(name=Metric.CHANGES_IGNORED, unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name=Metric.EVENTS_PUBLISHED, unit=MetricUnit.Count, value=1)
    if notified.webhooks:
        metrics.add_metric(name=Metric.WEBHOOKS_QUEUED, unit=MetricUnit.Count, value=notified.webhooks)
    event = notified.event
    logger.info(
        "job state change", job_id=event["jobId"], sequence=event["sequence"], changes=event["changes"]
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    _owner_urls().forget()  # owners' URLs are read once per batch
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
