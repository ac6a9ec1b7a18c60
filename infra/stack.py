"""The stack: composes the constructs, nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from constructs import Construct

from functions.jobs.rules import CompletionRule
from infra.api import ApiAuth, ApiLimits, JobApi
from infra.jobs_table import JobsTable
from infra.lambda_defaults import FunctionDefaults
from infra.queues import InputQueue, OutputQueue
from infra.tracker import Tracker, visibility_timeout_for_tracker

# The InputPoller long-polls and starts a workflow within seconds; 5 minutes covers a slow start.
INPUT_VISIBILITY = Duration.minutes(5)


class CpeServerlessStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults | None = None,
        rule: CompletionRule | None = None,
        table_removal: RemovalPolicy = RemovalPolicy.RETAIN,
        client_name: str = "CpeServerless",
        auth: ApiAuth | None = None,
        limits: ApiLimits | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        defaults = defaults or FunctionDefaults()
        rule = rule or CompletionRule()
        self.output = OutputQueue(self, "Output", visibility_timeout=visibility_timeout_for_tracker())
        self.input = InputQueue(self, "Input", visibility_timeout=INPUT_VISIBILITY)
        self.jobs = JobsTable(self, "Jobs", removal_policy=table_removal)
        self.tracker = Tracker(
            self,
            "Tracker",
            queue=self.output.queue,
            table=self.jobs.table,
            defaults=defaults,
            rule=rule,
        )
        self.api = JobApi(
            self,
            "Api",
            table=self.jobs.table,
            input_queue=self.input.queue,
            output_queue=self.output.queue,
            client_name=client_name,
            defaults=defaults,
            rule=rule,
            auth=auth or ApiAuth(),
            limits=limits or ApiLimits(),
            log_removal=defaults.log_removal,
        )
        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "InputQueueUrl", value=self.input.queue.queue_url)
        CfnOutput(self, "OutputQueueUrl", value=self.output.queue.queue_url)
        CfnOutput(self, "OutputDeadLetterQueueUrl", value=self.output.dead_letter_queue.queue_url)
        CfnOutput(self, "JobsTableName", value=self.jobs.table.table_name)
