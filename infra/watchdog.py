"""The watchdog: a schedule that ends jobs nothing was heard of for a while (functions.watchdog)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from functions import env
from functions.jobs.rules import CompletionRule
from functions.shared.settings import completion_environment
from functions.store.records import ByStatus
from infra.lambda_defaults import FunctionDefaults, PythonFunction

EVERY = Duration.minutes(5)
TIMEOUT = Duration.minutes(2)  # a sweep short of time stops and leaves the rest to the next one


class Watchdog(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        defaults: FunctionDefaults,
        rule: CompletionRule,
        stalled_after: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = PythonFunction(
            self,
            "Watchdog",
            handler="functions.watchdog.handler.handler",
            description="Ends the jobs nothing was heard of for too long as TIMED_OUT",
            defaults=defaults,
            timeout=TIMEOUT,
            environment={
                env.JOBS_TABLE_NAME: table.table_name,
                env.STALLED_AFTER_SECONDS: str(int(stalled_after.to_seconds())),
                **completion_environment(rule),
            },
        )
        self.function = self.handler.function
        # It lists open jobs through the status index, reads them, and writes a job back (a
        # conditional put: its finding adds no held value and no link).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{ByStatus.Meta.index_name}"]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:BatchGetItem", "dynamodb:PutItem"], resources=[table.table_arn]
            )
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Wakes the watchdog",
            schedule=events.Schedule.rate(EVERY),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],  # the next sweep retries
        )
