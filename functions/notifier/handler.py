"""Lambda entry point: the jobs table's stream -> "Job State Change" events on EventBridge, and
one delivery message per webhook target on the delivery queue (delivery never blocks the stream).

Records are processed one by one with partial batch failures (Powertools BatchProcessor), so a
failed record is retried from where it failed; the event id is stable, so a retried record
publishes an event consumers can recognize as the same."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import env
from functions.notifier.changes import DETAIL_TYPE, SOURCE, image, state_change_event

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class PublishFailed(RuntimeError):
    pass


@cache
def _clients() -> tuple[Any, Any]:
    import boto3  # noqa: PLC0415 - at first use, not at import

    return boto3.client("events"), boto3.client("sqs")


@cache
def _settings() -> dict[str, Any]:
    """Read once per execution environment (the stack sets these)."""
    return {
        "bus": os.environ[env.EVENT_BUS_NAME],
        "queue": os.environ.get(env.WEBHOOK_QUEUE_URL) or None,
        "endpoints": [u.strip() for u in os.environ.get(env.WEBHOOK_URLS, "").split(",") if u.strip()],
        "step": int(os.environ.get(env.PROGRESS_STEP, "10")),
    }


def handle_record(record: DynamoDBRecord) -> None:
    settings = _settings()
    new = image(record.dynamodb.new_image if record.dynamodb else None)
    if new is None:
        return  # a removed job, or another kind of item
    old = image(record.dynamodb.old_image if record.dynamodb else None)
    event = state_change_event(old, new, progress_step=settings["step"])
    if event is None:
        metrics.add_metric(name="ChangesIgnored", unit=MetricUnit.Count, value=1)
        return
    events, sqs = _clients()
    answer = events.put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(event),
                "EventBusName": settings["bus"],
                "Resources": [],
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise PublishFailed(f"EventBridge refused event {event['id']}: {answer['Entries']}")
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=1)
    targets = list(settings["endpoints"]) + ([new.job.callbackUrl] if new.job.callbackUrl else [])
    if targets and settings["queue"]:
        sqs.send_message_batch(
            QueueUrl=settings["queue"],
            Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"url": url, "event": event})}
                for n, url in enumerate(targets)
            ],
        )
        metrics.add_metric(name="WebhooksQueued", unit=MetricUnit.Count, value=len(targets))
    logger.info(
        "job state change", job_id=event["jobId"], sequence=event["sequence"], changes=event["changes"]
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
