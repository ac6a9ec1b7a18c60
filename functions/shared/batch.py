"""Powertools batch processing for handlers that process a batch as a whole.

Powertools' ``BatchProcessor`` calls a handler per record; the tracker instead applies a whole
batch at once (so that many messages of one job cost one write). This processor hands all the
records to one batch handler, which returns the failed message ids with their reasons, and lets
Powertools build the ``batchItemFailures`` response as usual."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class RecordFailed(Exception):
    """One record of the batch could not be processed (reported, not raised)."""


BatchHandler = Callable[[Sequence[SQSRecord]], Mapping[str, str]]
"""Takes the batch's records; returns ``{message_id: reason}`` for the records that failed."""


class WholeBatchProcessor(BatchProcessor):
    def __init__(self) -> None:
        # Report every failure item by item, even when all failed: the invocation itself succeeded.
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)

    def process(self) -> list[tuple[Any, ...]]:
        records = [SQSRecord(raw) for raw in self.records]
        handler: BatchHandler = self.handler
        failures = handler(records)
        outcomes: list[tuple[Any, ...]] = []
        for raw, record in zip(self.records, records, strict=True):
            reason = failures.get(record.message_id)
            if reason is None:
                outcomes.append(self.success_handler(raw, None))
            else:
                error = RecordFailed(reason)
                outcomes.append(self.failure_handler(record, (RecordFailed, error, None)))
        return outcomes
