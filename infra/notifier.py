"""State changes pushed out: a notifier on the jobs table's stream publishes "Job State Change"
events to an EventBridge bus (archived, so they can be replayed) and queues one webhook delivery
per target; a delivery function signs and sends them, retrying for over 24 hours before the DLQ.

The stream has two consumers at most (AWS's advice for DynamoDB streams): this notifier, and room
for one more."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions import env
from functions.notifier.changes import SOURCE
from functions.notifier.webhooks import MAX_ATTEMPTS, TIMEOUT_SECONDS
from functions.webhooks.dynamo import PARTITION_KEY, URL_ATTRIBUTES
from infra.config import Notifications
from infra.lambda_defaults import FunctionDefaults, PythonFunction
from infra.queues import QueueWithDeadLetters
from infra.security import acknowledge
from infra.stream import JobStreamSubscription, on_failure_queue

NOTIFIER_TIMEOUT = Duration.seconds(30)
DELIVERY_TIMEOUT = Duration.seconds(TIMEOUT_SECONDS * 10 + 10)  # a batch of 10, each up to its timeout
ARCHIVE_RETENTION = Duration.days(30)
NOTIFIER_RECORD_AGE = Duration.hours(24)


class Notifier(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        settings: Notifications,
        defaults: FunctionDefaults,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if settings.busArn:
            self.bus: events.IEventBus = events.EventBus.from_event_bus_arn(self, "Bus", settings.busArn)
        else:
            bus = events.EventBus(
                self, "Bus", description="Job State Change events of the CPE serverless stack"
            )
            bus.archive(
                "Archive",
                # Named: a generated name can exceed the 48 characters archives allow.
                archive_name=f"{Stack.of(self).stack_name[:38]}-job-events",
                description="Every job event, for EventBridge replays",
                event_pattern=events.EventPattern(source=[SOURCE]),
                retention=ARCHIVE_RETENTION,
            )
            self.bus = bus
        self.deliveries = QueueWithDeadLetters(
            self,
            "Webhooks",
            visibility_timeout=Duration.seconds(6 * DELIVERY_TIMEOUT.to_seconds()),
            max_receives=MAX_ATTEMPTS,
        )
        self.secret = secretsmanager.Secret(
            self,
            "WebhookSecret",
            description="Signs the stack's webhooks (Standard Webhooks); a JSON list of two while rotating",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=32, exclude_punctuation=True, include_space=False
            ),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.secret,
            "SMG4",
            "Webhook receivers hold a copy of this secret, so it cannot rotate without them: rotate "
            "by storing a JSON list of the old and new secrets (both sign) until every receiver has "
            "the new one.",
        )

        # Each owner's webhook: its URL and its signing secrets (functions.webhooks), apart from
        # the jobs, so that what reads jobs never reads a secret.
        self.webhooks = dynamodb.Table(
            self,
            "OwnerWebhooks",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        )

        notifier = PythonFunction(
            self,
            "Notifier",
            handler="functions.notifier.handler.handler",
            description="Turns job changes on the table's stream into events and webhook deliveries",
            defaults=defaults,
            timeout=NOTIFIER_TIMEOUT,
            environment={
                env.EVENT_BUS_NAME: self.bus.event_bus_arn,  # PutEvents takes the name or the ARN
                env.WEBHOOK_QUEUE_URL: self.deliveries.queue.queue_url,
                env.WEBHOOK_URLS: ",".join(settings.webhookUrls),
                env.PROGRESS_STEP: str(settings.progressStep),
                env.WEBHOOKS_TABLE_NAME: self.webhooks.table_name,
            },
        )
        self.notifier = notifier.function
        acknowledge(
            notifier.role,
            "IAM5[Resource::*]",
            "dynamodb:ListStreams, which Lambda's stream event source needs, has no resource-level "
            "permissions; every other statement of this role names its resource.",
        )
        self.bus.grant_put_events_to(self.notifier)
        # The notifier reads an owner's URL, never its secrets (DynamoDB's attribute-level control).
        self.notifier.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem"],
                resources=[self.webhooks.table_arn],
                conditions={
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(URL_ATTRIBUTES)},
                    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
                },
            )
        )
        self.deliveries.queue.grant_send_messages(self.notifier)
        # Made here, not by the subscription: its logical id predates it (a new one would replace it).
        self.stream_failures = on_failure_queue(
            self, "StreamFailures", "the notifier (10 retries or 24 hours)"
        )
        self.stream_source = JobStreamSubscription(
            self,
            "Stream",
            table=table,
            function=self.notifier,
            max_record_age=NOTIFIER_RECORD_AGE,
            removals=False,  # a removed job has no event: it was never dispatched
            failures=self.stream_failures,
        ).source

        self.delivery = PythonFunction(
            self,
            "Delivery",
            handler="functions.notifier.delivery.handler",
            description="Delivers signed webhooks, with backoff, for at least 24 hours",
            defaults=defaults,
            timeout=DELIVERY_TIMEOUT,
            environment={
                env.WEBHOOK_QUEUE_URL: self.deliveries.queue.queue_url,
                env.WEBHOOK_SECRET_ARN: self.secret.secret_arn,
                env.WEBHOOKS_TABLE_NAME: self.webhooks.table_name,
            },
        ).function
        self.secret.grant_read(self.delivery)
        self.webhooks.grant(self.delivery, "dynamodb:GetItem")
        self.delivery.add_event_source(
            sources.SqsEventSource(self.deliveries.queue, batch_size=10, report_batch_item_failures=True)
        )

    @property
    def dead_letter_queues(self) -> dict[str, sqs.IQueue]:
        return {"Webhooks": self.deliveries.dead_letter_queue, "StreamFailures": self.stream_failures}
