"""A function of yours on the jobs table's stream, attached the way the notifier is: only job items'
writes reach it (optionally only some statuses; removals too, unless you filter by status), a
failing batch is bisected down to the record that fails, retries are bounded, and what is given up
on is named in an on-failure queue.

    from infra.stream import JobStreamSubscription

    JobStreamSubscription(stack, "Reports", table=stack.jobs.table, function=my_function,
                          statuses=["COMPLETED", "FAILED"])

Your function reads records with ``cpe_client.stream`` (docs/job-stream.schema.json) and answers
partial batch failures (``batchItemFailures``, each a record's ``dynamodb.SequenceNumber``). The
on-failure queue receives where a given-up batch lies (its shard and sequence numbers), not the
records: read them back with GetRecords while the stream keeps them (24 hours). Records are given
up on after ``retry_attempts`` or once ``max_record_age`` old (6 hours by default, so that what is
given up on for age can still be read back for 18 hours).

A DynamoDB stream serves two consumers well (AWS's advice): the notifier is one; for more, subscribe
to the EventBridge bus. The construct imports this repository's ``functions`` (the filter's keys):
use it from a CDK app that has the repository, or copy the filter it synthesizes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.jobs.model import JobStatus
from functions.store.layout import JOB_ITEM_FILTER, JOB_SK
from infra.queues import DEAD_LETTER_RETENTION, SECURE
from infra.security import acknowledge

STREAM_BATCH_SIZE = 100
STREAM_RETRIES = 10
MAX_RECORD_AGE = Duration.hours(6)
# A job item removed: its submission never reached the engine (the API answered an error); the same
# job id may be submitted again, its item then starting again at version 1.
JOB_REMOVAL_FILTER: dict[str, Any] = {"eventName": ["REMOVE"], "dynamodb": {"Keys": {"sk": {"S": [JOB_SK]}}}}


def job_item_filter(statuses: Sequence[str] = ()) -> dict[str, Any]:
    """The stream's event filter: job items' writes, of these statuses only if any are named."""
    unknown = sorted(set(statuses) - {s.value for s in JobStatus})
    if unknown:
        raise ValueError(f"unknown job statuses {unknown}: choose from {[s.value for s in JobStatus]}")
    pattern = copy.deepcopy(JOB_ITEM_FILTER)
    if statuses:
        pattern["dynamodb"]["NewImage"] = {"status": {"S": sorted(set(statuses))}}
    return pattern


def on_failure_queue(scope: Construct, construct_id: str, consumer: str) -> sqs.Queue:
    """A stream mapping's on-failure destination: where the batches ``consumer`` gave up on lie."""
    queue = sqs.Queue(scope, construct_id, retention_period=DEAD_LETTER_RETENTION, **SECURE)
    acknowledge(
        queue,
        "SQS3",
        "This queue is a dead-letter queue: the stream mapping's on-failure destination, which "
        f"receives where the batches {consumer} gave up on lie.",
    )
    return queue


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
        removals: bool = True,
        failures: sqs.IQueue | None = None,
    ) -> None:
        """``table`` must have its stream (the jobs table does; from another stack, import it with
        ``Table.from_table_attributes(table_arn=..., table_stream_arn=<the JobsStreamArn output>)``).
        ``removals``: also job items' removals (not with ``statuses``: a removal has no status).
        ``failures``: an on-failure queue of yours, else one is made."""
        super().__init__(scope, construct_id)
        if not 0 <= retry_attempts <= 10_000:
            raise ValueError("retry_attempts: bounded retries only, 0 to 10000")
        self.failures = failures or on_failure_queue(self, "Failures", "its function")
        filters = [job_item_filter(statuses)] + ([JOB_REMOVAL_FILTER] if removals and not statuses else [])
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
            filters=[lambda_.FilterCriteria.filter(pattern) for pattern in filters],
        )
        function.add_event_source(self.source)
