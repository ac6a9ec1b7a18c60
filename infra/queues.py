"""The CPE queues: created with their dead-letter queues, or those of an existing CPE stack."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ExistingQueue, Queues

MAX_RECEIVES = 5
# A message keeps its first enqueue time when it moves to a DLQ, so a DLQ must keep messages longer
# than its source does: the sources keep them 4 days (far beyond any consumer's retries), the DLQs
# the longest SQS allows, 14 days.
RETENTION = Duration.days(4)
DEAD_LETTER_RETENTION = Duration.days(14)
# Every queue of the stack: encrypted at rest, TLS only.
SECURE: dict[str, Any] = {"encryption": sqs.QueueEncryption.SQS_MANAGED, "enforce_ssl": True}


def grant_send(queue: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Exactly the rights sending to ``queue`` needs: ``sqs:SendMessage``, and for a queue encrypted
    with a customer managed key (a bring-your-own CPE queue) a data key from it. (``grant_send_messages``
    grants ``kms:ReEncrypt*`` and ``kms:GenerateDataKey*`` too, wildcards nothing here uses.)"""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn])
    )
    if queue.encryption_master_key is not None:
        queue.encryption_master_key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt")


class QueueWithDeadLetters(Construct):
    """A queue and the DLQ that receives what its consumer failed ``MAX_RECEIVES`` times.

    ``visibility_timeout`` must cover the consumer: at least 6x its timeout plus its batching
    window (AWS's guidance for Lambda event sources), so the caller derives it from the consumer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        visibility_timeout: Duration,
        max_receives: int = MAX_RECEIVES,
        dead_letter_visibility: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=DEAD_LETTER_RETENTION,
            visibility_timeout=dead_letter_visibility,  # when a function consumes the DLQ too
            **SECURE,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=visibility_timeout,
            retention_period=RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=max_receives, queue=self.dead_letter_queue
            ),
            **SECURE,
        )


class CpeQueues(Construct):
    """``input`` takes the commands (START_JOB, CANCEL_JOB) to a CPE stack's InputPoller or this
    project's engine; ``output`` brings the stack's reports to the tracker.

    With ``existing`` queues nothing is created: the stack only reads, writes and decrypts with the
    given queues (and their KMS keys), and their redrive policies stay their owner's business."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing: Queues,
        input_visibility: Duration,
        output_visibility: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        self.input: sqs.IQueue
        self.output: sqs.IQueue
        if existing.input is not None and existing.output is not None:
            self.input = self._import("Input", existing.input)
            self.output = self._import("Output", existing.output)
            return
        created_input = QueueWithDeadLetters(self, "Input", visibility_timeout=input_visibility)
        created_output = QueueWithDeadLetters(self, "Output", visibility_timeout=output_visibility)
        self.input = created_input.queue
        self.output = created_output.queue
        self.dead_letter_queues = {
            "Input": created_input.dead_letter_queue,
            "Output": created_output.dead_letter_queue,
        }

    def _import(self, construct_id: str, queue: ExistingQueue) -> sqs.IQueue:
        # With key_arn, the queue's grants include the KMS rights its messages need.
        return sqs.Queue.from_queue_attributes(
            self, construct_id, queue_arn=queue.queue_arn, key_arn=queue.kmsKeyArn
        )
