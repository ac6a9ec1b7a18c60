"""Lambda entry point: the output queue's messages become job records (SQS event source with
``ReportBatchItemFailures``). The whole batch is applied at once (many messages of one job cost one
write), and the messages that failed are reported by id; those worth retrying come back after a
short backoff (functions.messaging.redelivery), not the queue's visibility timeout."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent, SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.jobs.owners import owners_by_client_name
from functions.messaging.base import MessageQueue
from functions.messaging.redelivery import redeliver_after_backoff
from functions.metrics import Metric
from functions.store.dynamo import DynamoJobStore
from functions.tracker.logic import BatchReport, BatchTracker, InboundMessage
from functions.tracker.settings import TrackerSettings

logger = Logger()
metrics = Metrics()


@cache
def _settings() -> TrackerSettings:
    return TrackerSettings.from_environ(os.environ)


@cache
def _tracker() -> BatchTracker:
    settings = _settings()
    owners = owners_by_client_name(settings.owner_client_names)
    return BatchTracker(DynamoJobStore(settings.table), settings.rule, owners=owners)


@cache
def _queue() -> MessageQueue | None:
    settings = _settings()
    if settings.output_queue_url is None:
        return None
    from functions.messaging.sqs import SqsQueue  # noqa: PLC0415 - its client at the first failure
    from functions.shared import aws  # noqa: PLC0415

    return SqsQueue(
        lambda: aws.client("sqs", region=settings.region, endpoint=settings.sqs_endpoint),
        settings.output_queue_url,
    )


def _back_off(report: BatchReport, records: Sequence[SQSRecord]) -> None:
    retried = [r for r in records if (f := report.failures.get(r.message_id)) is not None and f.retryable]
    queue = _queue() if retried else None  # its client built at the first failure, not before
    if queue is None:
        return
    for record in retried:
        receives = int(record.attributes.approximate_receive_count)
        redeliver_after_backoff(queue, record.receipt_handle, receives)


def _observe(report: BatchReport, records: Sequence[SQSRecord]) -> None:
    receives = {record.message_id: record.attributes.approximate_receive_count for record in records}
    for message_id, failure in report.failures.items():
        logger.warning(
            "message not applied",
            message_id=message_id,
            reason=failure.reason,
            detail=failure.detail,
            retryable=failure.retryable,
            receive_count=receives.get(message_id),
        )
    for name, value in (
        (Metric.MESSAGES_RECEIVED, len(records)),
        (Metric.MESSAGES_APPLIED, report.applied),
        (Metric.MESSAGES_PARKED, report.parked),
        (Metric.PARKED_MESSAGES_DRAINED, report.drained),
        (Metric.MESSAGES_REJECTED, sum(report.rejected.values())),
        (Metric.MESSAGES_RETRIED, sum(1 for f in report.failures.values() if f.retryable)),
        (Metric.UNKNOWN_MESSAGE_TYPES, report.unknown_types),
        (Metric.JOB_WRITES, report.job_writes),
        (Metric.JOBS_UNCHANGED, report.unchanged_jobs),
        (Metric.WRITE_CONFLICTS, report.conflicts),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = list(SQSEvent(event).records)
    report = _tracker().track(
        [
            InboundMessage(record.message_id, record.body, int(record.attributes.sent_timestamp) / 1000)
            for record in records
        ]
    )
    _observe(report, records)
    _back_off(report, records)
    return {
        "batchItemFailures": [
            {"itemIdentifier": record.message_id}
            for record in records
            if record.message_id in report.failures
        ]
    }
