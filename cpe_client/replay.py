"""Re-sending webhooks that were parked in the dead-letter queue after a day of failed attempts
(once the receiver is fixed): moved back to the delivery queue, with a fresh attempt count.

    python -m cpe_client replay-webhooks [--job JOB_ID]   (queue URLs from the stack's outputs)
"""

from __future__ import annotations

import json
from typing import Any


def replay_webhooks(
    sqs: Any, dead_letter_queue_url: str, queue_url: str, *, job_id: str | None = None
) -> int:
    """Move the parked deliveries (of ``job_id`` only, if given) back to the delivery queue;
    returns how many. The others stay in the DLQ, visible again once the scan ends."""
    moved = 0
    kept: list[str] = []  # receipts of the messages left in the DLQ (invisible during the scan)
    while messages := sqs.receive_message(
        QueueUrl=dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
    ).get("Messages", []):
        for message in messages:
            try:
                wanted = job_id is None or json.loads(message["Body"])["event"]["jobId"] == job_id
            except (ValueError, KeyError, TypeError):
                wanted = False
            if wanted:
                sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
            else:
                kept.append(message["ReceiptHandle"])
    for receipt in kept:
        sqs.change_message_visibility(
            QueueUrl=dead_letter_queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
        )
    return moved
