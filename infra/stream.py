"""A function of yours on the jobs table's stream, attached the way the notifier is: only job items'
writes reach it (optionally only some statuses), a failing batch is bisected down to the record that
fails, retries are bounded, and a record given up on is kept in an on-failure queue, not lost.

    from infra.stream import JobStreamSubscription

    JobStreamSubscription(stack, "Reports", table=stack.jobs.table, function=my_function,
                          statuses=["COMPLETED", "FAILED"])

Your function reads records with ``cpe_client.stream.parse_event`` (docs/job-stream.schema.json)
and should answer partial batch failures (``batchItemFailures``). A DynamoDB stream serves two
consumers well (AWS's advice): the notifier is one; for more, subscribe to the EventBridge bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.jobs.model import JobStatus
from functions.store.layout import JOB_ITEM_FILTER
from infra.queues import DEAD_LETTER_RETENTION, SECURE
from infra.security import acknowledge

STREAM_BATCH_SIZE = 100
STREAM_RETRIES = 10
MAX_RECORD_AGE = Duration.hours(24)


def job_item_filter(statuses: Sequence[str] = ()) -> dict[str, Any]:
    """The stream's event filter: job items' writes, of these statuses only if any are named."""
    unknown = sorted(set(statuses) - {s.value for s in JobStatus})
    if unknown:
        raise ValueError(f"unknown job statuses {unknown}: choose from {[s.value for s in JobStatus]}")
    if not statuses:
        return JOB_ITEM_FILTER
    return {
        **JOB_ITEM_FILTER,
        "dynamodb": {**JOB_ITEM_FILTER["dynamodb"], "NewImage": {"status": {"S": sorted(set(statuses))}}},
    }


class JobStreamSubscription(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        function: lambda_.IFunction,
        statuses: Sequence[str] = (),
        batch_size: int = STREAM_BATCH_SIZE,
        retry_attempts: int = STREAM_RETRIES,
        max_record_age: Duration = MAX_RECORD_AGE,
        batching_window: Duration | None = None,
    ) -> None:
        """``table`` must have its stream (the jobs table does; from another stack, import it with
        ``Table.from_table_attributes(table_arn=..., table_stream_arn=<the JobsStreamArn output>)``)."""
        super().__init__(scope, construct_id)
        if not 0 <= retry_attempts <= 10_000:
            raise ValueError("retry_attempts: bounded retries only, 0 to 10000")
        self.failures = sqs.Queue(self, "Failures", retention_period=DEAD_LETTER_RETENTION, **SECURE)
        acknowledge(
            self.failures,
            "SQS3",
            "This queue is a dead-letter queue: the stream mapping's on-failure destination, which "
            "receives the records its function failed after its retries or once too old.",
        )
        self.source = sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.LATEST,
            batch_size=batch_size,
            max_batching_window=batching_window,
            bisect_batch_on_error=True,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(self.failures),
            filters=[lambda_.FilterCriteria.filter(job_item_filter(statuses))],
        )
        function.add_event_source(self.source)
