"""A received SQS message that failed for a passing reason (a throttled table, a write conflict, a
lost connection) comes back after a short, growing backoff instead of its queue's whole visibility
timeout: a Lambda consumer's queue hides a failed message for six times the function's timeout
(AWS's guidance), minutes in which a throttled job's status or command would wait for nothing.
The backoff grows fast enough that the queue's receives (then its dead-letter queue) still cover
several minutes of trouble."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from functions.messaging.base import MessageQueue, QueueUnavailable

logger = Logger(child=True)

FIRST_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 300


def backoff_seconds(receive_count: int) -> int:
    """10 s, 30 s, 90 s, 270 s, then 300 s: about 6.5 minutes over five receives."""
    return int(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 3 ** max(0, receive_count - 1)))


def redeliver_after_backoff(queue: MessageQueue, receipt_handle: str, receive_count: int) -> None:
    """Make a received message visible again after its backoff. If SQS refuses, the queue's
    visibility timeout brings it back anyway: later, never lost."""
    try:
        queue.change_visibility(receipt_handle, backoff_seconds(receive_count))
    except QueueUnavailable as exc:
        logger.warning("backoff not set; the visibility timeout will bring the message back", error=str(exc))
