"""The CPE output queue (stack -> us) and its dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVES = 5
RETENTION = Duration.days(14)
# Every queue of the stack: encrypted at rest, TLS only, the longest retention.
SECURE: dict[str, Any] = {
    "encryption": sqs.QueueEncryption.SQS_MANAGED,
    "enforce_ssl": True,
    "retention_period": RETENTION,
}


class OutputQueue(Construct):
    """The queue the CPE stack reports to, and a DLQ that receives what failed ``MAX_RECEIVES`` times.

    ``visibility_timeout`` must cover the consumer: at least 6x its timeout plus its batching
    window (AWS's guidance for Lambda event sources), so the caller derives it from the consumer."""

    def __init__(self, scope: Construct, construct_id: str, *, visibility_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(self, "DeadLetters", **SECURE)
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=visibility_timeout,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVES, queue=self.dead_letter_queue
            ),
            **SECURE,
        )


class InputQueue(Construct):
    """The queue commands go to (START_JOB, CANCEL_JOB): read by a CPE stack's InputPoller or by
    this project's engine. Its DLQ keeps what its consumer failed ``MAX_RECEIVES`` times."""

    def __init__(self, scope: Construct, construct_id: str, *, visibility_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(self, "DeadLetters", **SECURE)
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=visibility_timeout,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVES, queue=self.dead_letter_queue
            ),
            **SECURE,
        )
