"""A message that failed for a reason worth retrying (AWS throttled, failed for a moment) comes
back after a short, growing backoff instead of its queue's whole visibility timeout: a throttled
START_JOB should not wait five minutes, nor a task twenty. The backoff grows fast enough that a
queue's receives (then its dead-letter queue) still cover several minutes of trouble."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.messaging.base import MessageQueue, QueueUnavailable

logger = Logger()
FIRST_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 300


def backoff_seconds(receive_count: int) -> int:
    """10 s, 30 s, 90 s, 270 s, then 300 s: about 6.5 minutes over five receives."""
    return int(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 3 ** max(0, receive_count - 1)))


def deliver_again_soon(queue: MessageQueue, record: SQSRecord) -> None:
    """Make ``record`` visible again after its backoff. If SQS refuses, the queue's visibility
    timeout brings it back anyway: later, never lost."""
    seconds = backoff_seconds(int(record.attributes.approximate_receive_count))
    try:
        queue.change_visibility(record.receipt_handle, seconds)
    except QueueUnavailable as exc:
        logger.warning("backoff not set; the visibility timeout will bring the message back", error=str(exc))
