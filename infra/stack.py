"""The stack: composes the constructs, nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from functions.jobs.rules import CompletionRule
from infra.jobs_table import JobsTable
from infra.lambda_defaults import FunctionDefaults
from infra.queues import OutputQueue
from infra.tracker import Tracker, visibility_timeout_for_tracker


class CpeServerlessStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults | None = None,
        rule: CompletionRule | None = None,
        table_removal: RemovalPolicy = RemovalPolicy.RETAIN,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        defaults = defaults or FunctionDefaults()
        self.output = OutputQueue(self, "Output", visibility_timeout=visibility_timeout_for_tracker())
        self.jobs = JobsTable(self, "Jobs", removal_policy=table_removal)
        self.tracker = Tracker(
            self,
            "Tracker",
            queue=self.output.queue,
            table=self.jobs.table,
            defaults=defaults,
            rule=rule or CompletionRule(),
        )
        CfnOutput(self, "OutputQueueUrl", value=self.output.queue.queue_url)
        CfnOutput(self, "OutputDeadLetterQueueUrl", value=self.output.dead_letter_queue.queue_url)
        CfnOutput(self, "JobsTableName", value=self.jobs.table.table_name)
