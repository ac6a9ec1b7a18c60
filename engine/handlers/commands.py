"""Lambda entry point: START_JOB and CANCEL_JOB from the input queue (SQS event source, partial
batch failures). A command that cannot be read fails alone and, after the queue's receives, is
dead-lettered; one that failed for a passing reason (the state table throttled) comes back after
a short backoff; the others are handled."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from engine.fanout import UnreadableCommand
from engine.runtime import engine, input_queue
from functions.messaging.redelivery import redeliver_after_backoff

logger = Logger()


def handle_record(record: SQSRecord) -> None:
    try:
        engine().command(record.message_id, record.body)
    except UnreadableCommand as exc:
        logger.warning(
            "command not read; left for the dead-letter queue", message_id=record.message_id, reason=str(exc)
        )
        raise
    except Exception:
        logger.exception("command failed; it will be delivered again", message_id=record.message_id)
        redeliver_after_backoff(
            input_queue(), record.receipt_handle, int(record.attributes.approximate_receive_count)
        )
        raise


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    # A processor per invocation: the local stack runs several pollers of one function as threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
