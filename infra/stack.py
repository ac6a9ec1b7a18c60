"""The stack: composes the constructs, nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.metrics import (
    API_METRICS,
    DELIVERY_METRICS,
    NOTIFIER_METRICS,
    TRACKER_METRICS,
    WATCHDOG_METRICS,
    Metric,
)
from infra.api import JobApi
from infra.config import LOG_RETENTION_DAYS, StackConfig
from infra.console import Console
from infra.engine import Engine
from infra.jobs_table import JobsTable
from infra.lambda_defaults import FunctionDefaults
from infra.monitoring import Monitoring
from infra.notifier import Notifier
from infra.queues import CpeQueues
from infra.tracker import Tracker, visibility_timeout_for_tracker
from infra.watchdog import Watchdog

# The InputPoller long-polls and starts a workflow within seconds; 5 minutes covers a slow start.
INPUT_VISIBILITY = Duration.minutes(5)


class CpeServerlessStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = config or StackConfig()
        removal = RemovalPolicy.RETAIN if config.removalPolicy == "retain" else RemovalPolicy.DESTROY
        defaults = FunctionDefaults(
            service=construct_id,
            log_retention=logs.RetentionDays[LOG_RETENTION_DAYS[config.retention.logsDays]],
            log_removal=removal,
            tracing=config.tracing,
        )
        rule = config.completion.rule()

        self.queues = CpeQueues(
            self,
            "Queues",
            existing=config.queues,
            input_visibility=INPUT_VISIBILITY,
            output_visibility=visibility_timeout_for_tracker(),
        )
        self.jobs = JobsTable(self, "Jobs", removal_policy=removal)
        self.tracker = Tracker(
            self,
            "Tracker",
            queue=self.queues.output,
            table=self.jobs.table,
            defaults=defaults,
            rule=rule,
            owner_client_names=config.owners.clientNames,
        )
        self.console = (
            Console(self, "Console", config=config, removal_policy=removal, defaults=defaults)
            if config.console.enabled
            else None
        )
        self.api = JobApi(
            self,
            "Api",
            table=self.jobs.table,
            input_queue=self.queues.input,
            output_queue=self.queues.output,
            config=config,
            defaults=defaults,
            console_origins=[self.console.origin] if self.console else [],
        )
        self.watchdog = Watchdog(
            self,
            "Watchdog",
            table=self.jobs.table,
            defaults=defaults,
            rule=rule,
            stalled_after=Duration.minutes(config.stalledAfterMinutes),
        )
        self.notifier = Notifier(
            self,
            "Notifier",
            table=self.jobs.table,
            settings=config.notifications,
            defaults=defaults,
            removal_policy=removal,
        )
        self.api.serve_webhooks(self.notifier.webhooks)
        self.monitoring = Monitoring(
            self, "Monitoring", alarm_email=config.alarmEmail, removal_policy=removal, service=construct_id
        )
        self.monitoring.watch_api("JobApi", self.api.api)
        self.monitoring.watch_function("Api", self.api.function, API_METRICS)
        if self.api.authorizer_function is not None:
            self.monitoring.watch_function("Authorizer", self.api.authorizer_function)
        self.monitoring.watch_function("Tracker", self.tracker.function, TRACKER_METRICS)
        self.monitoring.watch_function("Watchdog", self.watchdog.function, WATCHDOG_METRICS)
        self.monitoring.alarm_on_count(
            Metric.STALLED_JOBS,
            f"Jobs nothing was heard of for {config.stalledAfterMinutes} minutes ended TIMED_OUT: "
            "whatever does the work (the engine, a CPE stack) lost them",
        )
        self.monitoring.watch_queue("Input", self.queues.input)  # nothing takes the jobs: engine stopped
        self.monitoring.watch_queue("Output", self.queues.output)
        for name, queue in self.queues.dead_letter_queues.items():
            self.monitoring.watch_dead_letter_queue(name, queue)
        self.monitoring.watch_table("Jobs", self.jobs.table)
        self.monitoring.watch_stream_consumer("Notifier", self.notifier.notifier)
        self.monitoring.watch_function("Notifier", self.notifier.notifier, NOTIFIER_METRICS)
        self.monitoring.watch_function("Delivery", self.notifier.delivery, DELIVERY_METRICS)
        for name, queue in self.notifier.dead_letter_queues.items():
            self.monitoring.watch_dead_letter_queue(name, queue)
        self.engine: Engine | None = None
        if config.engine_mode == "builtin":
            self.engine = Engine(
                self,
                "Engine",
                input_queue=self.queues.input,
                output_queue=self.queues.output,
                config=config.engine,
                defaults=defaults,
                removal_policy=removal,
            )
            self.api.serve_media(self.engine.media_bucket, config)
            for name, function in self.engine.functions.items():
                self.monitoring.watch_function(name, function)
            self.monitoring.watch_queue("Work", self.engine.work.queue)
            self.monitoring.watch_dead_letter_queue("Work", self.engine.work.dead_letter_queue)
        self.monitoring.add_alarm_overview()
        if self.console:  # once the API and the media bucket, whose hosts its policy allows, exist
            self.console.publish(
                self.api.api, self.api.url, self.engine.media_bucket if self.engine else None
            )

        self._outputs()

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api.url, description="The job API's base URL")
        if self.console:
            CfnOutput(self, "ConsoleUrl", value=self.console.url, description="The jobs console")
            if self.console.client_id:
                CfnOutput(self, "ConsoleClientId", value=self.console.client_id)
        CfnOutput(self, "InputQueueUrl", value=self.queues.input.queue_url)
        CfnOutput(self, "OutputQueueUrl", value=self.queues.output.queue_url)
        for name, queue in self.queues.dead_letter_queues.items():
            CfnOutput(self, f"{name}DeadLetterQueueUrl", value=queue.queue_url)
        CfnOutput(self, "JobsTableName", value=self.jobs.table.table_name)
        CfnOutput(
            self,
            "JobsStreamArn",
            value=self.jobs.table.table_stream_arn or "",
            description="The jobs table's stream: job items per docs/job-stream.schema.json "
            "(attach a function with infra.stream.JobStreamSubscription)",
        )
        CfnOutput(self, "EventBusArn", value=self.notifier.bus.event_bus_arn)
        CfnOutput(self, "WebhookSecretArn", value=self.notifier.secret.secret_arn)
        CfnOutput(self, "WebhookQueueUrl", value=self.notifier.deliveries.queue.queue_url)
        CfnOutput(
            self, "WebhookDeadLetterQueueUrl", value=self.notifier.deliveries.dead_letter_queue.queue_url
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards:name={self.monitoring.dashboard.dashboard_name}",
        )
