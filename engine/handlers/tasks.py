"""Lambda entry point: one task of the work queue per invocation (batch size 1). A task that fails
for a reason worth retrying comes back after a short backoff (functions.messaging.redelivery), and after
the queue's receives is dead-lettered (engine.handlers.gave_up)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from engine.runtime import engine, work_queue
from functions.messaging.redelivery import redeliver_after_backoff

logger = Logger()


def _task(record: SQSRecord, context: LambdaContext) -> None:
    attempt = int(record.attributes.approximate_receive_count)
    try:
        engine().task(record.body, attempt, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    except Exception:
        logger.exception("task failed; it will be delivered again", attempt=attempt)
        redeliver_after_backoff(work_queue(), record.receipt_handle, attempt)
        raise


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    # A processor per invocation: the local stack runs several pollers of one function as threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event,
        record_handler=lambda record: _task(record, context),
        processor=processor,
        context=context,
    )
