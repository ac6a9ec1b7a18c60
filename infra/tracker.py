"""The tracker: the output queue's event source, the function, and exactly the table rights it uses."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions import env
from functions.jobs.rules import CompletionRule
from functions.shared.settings import completion_environment
from infra.lambda_defaults import FunctionDefaults, PythonFunction

TIMEOUT = Duration.seconds(30)
# A 1 s window (docs/benchmarks.md, "The tracker's batching window"; docs/decisions.md): the engine
# reports in bursts (a task's end, the next one's start, progress), which one batch then writes once.
BATCH_SIZE = 100
BATCHING_WINDOW = Duration.seconds(1)
# The store reads with BatchGetItem and Query (consistent), and writes with conditional PutItem and
# UpdateItem and with BatchWriteItem (held values, parked messages and their removal).
TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
)


def visibility_timeout_for_tracker() -> Duration:
    """AWS's guidance: at least six times the function timeout, plus the batching window."""
    return Duration.seconds(6 * TIMEOUT.to_seconds() + BATCHING_WINDOW.to_seconds())


class Tracker(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        table: dynamodb.ITable,
        defaults: FunctionDefaults,
        rule: CompletionRule,
        owner_client_names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = PythonFunction(
            self,
            "Tracker",
            handler="functions.tracker.handler.handler",
            description="Applies CPE output messages to the job records",
            defaults=defaults,
            timeout=TIMEOUT,
            environment={
                env.JOBS_TABLE_NAME: table.table_name,
                env.OUTPUT_QUEUE_URL: queue.queue_url,  # a retried message's backoff
                # Who owns a job it learns of from a client's START_JOB (functions.jobs.owners).
                env.OWNER_CLIENT_NAMES: json.dumps(dict(owner_client_names or {})),
                **completion_environment(rule),
            },
        )
        self.function = self.handler.function
        # The table only, not its indexes: the tracker never queries them (grant() would add them).
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[table.table_arn])
        )
        self.event_source = sources.SqsEventSource(
            queue,
            batch_size=BATCH_SIZE,
            max_batching_window=BATCHING_WINDOW,
            report_batch_item_failures=True,
        )
        self.function.add_event_source(self.event_source)
