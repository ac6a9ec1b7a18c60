"""Lambda entry point: the output queue's messages become job records (SQS event source with
``ReportBatchItemFailures``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.shared.batch import WholeBatchProcessor
from functions.store.dynamo import DynamoJobStore
from functions.tracker.logic import BatchReport, BatchTracker, InboundMessage
from functions.tracker.settings import TrackerSettings

logger = Logger()
metrics = Metrics()


@cache
def _tracker() -> BatchTracker:
    settings = TrackerSettings.from_environ(os.environ)
    return BatchTracker(DynamoJobStore(settings.table), settings.rule)


def track_records(records: Sequence[SQSRecord]) -> dict[str, str]:
    batch = [
        InboundMessage(record.message_id, record.body, int(record.attributes.sent_timestamp) / 1000)
        for record in records
    ]
    report = _tracker().track(batch)
    _observe(report, records)
    return {
        message_id: f"{failure.reason}: {failure.detail}" for message_id, failure in report.failures.items()
    }


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
        ("MessagesReceived", len(records)),
        ("MessagesApplied", report.applied),
        ("MessagesParked", report.parked),
        ("ParkedMessagesDrained", report.drained),
        ("MessagesRejected", sum(report.rejected.values())),
        ("MessagesRetried", sum(1 for f in report.failures.values() if f.retryable)),
        ("UnknownMessageTypes", report.unknown_types),
        ("JobWrites", report.job_writes),
        ("JobsUnchanged", report.unchanged_jobs),
        ("WriteConflicts", report.conflicts),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=track_records, processor=WholeBatchProcessor(), context=context
    )
