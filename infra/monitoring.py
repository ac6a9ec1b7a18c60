"""Monitoring: the alarms, the encrypted topic they notify, and a dashboard of the whole pipeline.

Every alarm fires on the first sign of trouble (one message in a DLQ, one function error or
throttle, one API 5xx): at this scale each of them means a job a user is waiting for."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.lambda_defaults import METRICS_NAMESPACE

PERIOD = Duration.minutes(5)
# The tracker applies a batch within seconds; a message older than this means it is stuck.
MAX_MESSAGE_AGE = Duration.minutes(15)
# A stream consumer this far behind delays every notification by as much.
MAX_ITERATOR_AGE = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_email: str | None,
        removal_policy: RemovalPolicy,
        service: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.service = service
        # CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key (its policy
        # cannot be changed): the topic gets a key whose policy lets CloudWatch use it.
        self.key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the alarm topic of the CPE serverless stack",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="CPE serverless alarms", master_key=self.key, enforce_ssl=True
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(3),
            period_override=cloudwatch.PeriodOverride.AUTO,
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        description: str,
        threshold: float = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm

    def add_alarm_overview(self) -> None:
        """One widget with the state of every alarm (call once everything is watched)."""
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24)
        )

    def watch_dead_letter_queue(self, name: str, queue: sqs.IQueue) -> None:
        depth = queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
        self._alarm(
            f"{name}DeadLetters",
            depth,
            description=f"Messages in the {name} dead-letter queue: they failed every retry; "
            "inspect them, fix the cause, then redrive them",
        )
        self.dashboard.add_widgets(cloudwatch.SingleValueWidget(title=f"{name} DLQ depth", metrics=[depth]))

    def watch_queue(self, name: str, queue: sqs.IQueue) -> None:
        age = queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum")
        self._alarm(
            f"{name}QueueAge",
            age,
            threshold=MAX_MESSAGE_AGE.to_seconds(),
            description=f"The oldest message on the {name} queue waits for over "
            f"{MAX_MESSAGE_AGE.to_minutes()} minutes: its consumer is stuck or failing",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name} queue",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                    queue.metric_number_of_messages_received(period=PERIOD),
                ],
                right=[age],
            )
        )

    def watch_function(
        self, name: str, function: lambda_.IFunction, custom_metrics: tuple[str, ...] = ()
    ) -> None:
        errors = function.metric_errors(period=PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
        self._alarm(f"{name}Errors", errors, description=f"The {name} function failed")
        self._alarm(f"{name}Throttles", throttles, description=f"The {name} function was throttled")
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title=f"{name} invocations",
                left=[function.metric_invocations(period=PERIOD), errors, throttles],
                right=[function.metric_duration(period=PERIOD, statistic="p99")],
            )
        ]
        if custom_metrics:
            widgets.append(
                cloudwatch.GraphWidget(
                    title=f"{name} work",
                    left=[
                        cloudwatch.Metric(
                            namespace=METRICS_NAMESPACE,
                            metric_name=metric,
                            dimensions_map={"service": self.service},
                            period=PERIOD,
                            statistic="Sum",
                        )
                        for metric in custom_metrics
                    ],
                )
            )
        self.dashboard.add_widgets(*widgets)

    def alarm_on_count(self, metric_name: str, description: str) -> None:
        """An alarm on one of the functions' own metrics (functions.metrics): any in five minutes."""
        metric = cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"service": self.service},
            period=PERIOD,
            statistic="Sum",
        )
        self._alarm(metric_name, metric, description=description)

    def watch_stream_consumer(self, name: str, function: lambda_.IFunction) -> None:
        """For a function on the table's stream: how far behind the newest change it reads."""
        age = cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name="IteratorAge",
            dimensions_map={"FunctionName": function.function_name},
            period=PERIOD,
            statistic="Maximum",
        )
        self._alarm(
            f"{name}IteratorAge",
            age,
            threshold=MAX_ITERATOR_AGE.to_milliseconds(),
            description=f"The {name} stream consumer is over {MAX_ITERATOR_AGE.to_minutes()} minutes behind",
        )
        self.dashboard.add_widgets(cloudwatch.GraphWidget(title=f"{name} iterator age", left=[age]))

    def watch_api(self, name: str, api: apigateway.RestApi) -> None:
        server_errors = api.metric_server_error(period=PERIOD, statistic="Sum")
        self._alarm(f"{name}ServerErrors", server_errors, description=f"The {name} answered 5xx")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name} requests",
                left=[
                    api.metric_count(period=PERIOD, statistic="Sum"),
                    api.metric_client_error(period=PERIOD, statistic="Sum"),
                    server_errors,
                ],
                right=[api.metric_latency(period=PERIOD, statistic="p99")],
            )
        )

    def watch_table(self, name: str, table: dynamodb.ITable) -> None:
        throttled = table.metric_throttled_requests_for_operations(
            operations=[
                dynamodb.Operation[name]
                for name in ("BATCH_GET_ITEM", "QUERY", "PUT_ITEM", "UPDATE_ITEM", "BATCH_WRITE_ITEM")
            ],
            period=PERIOD,
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name} table",
                left=[
                    table.metric_consumed_read_capacity_units(period=PERIOD),
                    table.metric_consumed_write_capacity_units(period=PERIOD),
                ],
                right=[throttled, table.metric_user_errors(period=PERIOD)],
            )
        )
