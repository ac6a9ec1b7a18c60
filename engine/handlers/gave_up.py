"""Lambda entry point: the tasks the work queue dead-lettered (their invocations kept dying or
timing out): each ends its output, or its run, FAILED with the reason, so no job waits forever."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from engine.runtime import engine

logger = Logger()


def handle_record(record: SQSRecord) -> None:
    logger.error("a task never finished", body=record.body[:500])
    engine().gave_up(record.body, "its invocations kept failing or timing out until it was dead-lettered")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    # A processor per invocation: the local stack runs several pollers of one function as threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
