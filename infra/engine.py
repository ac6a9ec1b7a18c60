"""The built-in engine (cpe.engine.mode builtin): Lambda functions fed by the input queue and by a
work queue of its own, its state table, and the media bucket it reads inputs from and writes
outputs to (or buckets of yours). AWS's services are the whole of its scheduling: SQS delivers each
task to an invocation (again, if one dies), DynamoDB's conditional writes join them
(engine.fanout).

What each function may touch: the commands function reads the input queue, writes runs and
cancels, sends validations and reports; the tasks function reads the inputs' prefixes, writes the
outputs' prefixes and the work prefix, sends tasks and reports; the gave-up function reads the DLQ
and reports. Nothing else."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from engine.fanout import MAX_TASK_RECEIVES, FanoutOptions
from engine.state_dynamo import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from functions import env
from functions.api.media import OUTPUTS_PREFIX, UPLOADS_PREFIX
from infra.config import EngineConfig, MediaBucket
from infra.lambda_defaults import FunctionDefaults, PythonFunction
from infra.queues import QueueWithDeadLetters, grant_send
from infra.security import acknowledge, nag_partition

COMMANDS_TIMEOUT = Duration.seconds(30)
GAVE_UP_TIMEOUT = Duration.seconds(60)
WORK_PREFIX = FanoutOptions().work_prefix
# Where jobs on the media bucket read their inputs and write their outputs.
MEDIA_INPUT_PREFIXES = (UPLOADS_PREFIX, OUTPUTS_PREFIX)
MEDIA_OUTPUT_PREFIX = OUTPUTS_PREFIX
# Work files (spans, audio) left by a crash: their join never came. Outputs are never expired.
WORK_EXPIRY = Duration.days(2)
ACCESS_LOG_EXPIRY = Duration.days(90)
WORK_VISIBILITY_MARGIN = Duration.minutes(2)
# S3's log delivery granted by a bucket policy, not the legacy ACL, whatever the app's flags say.
ACCESS_LOGS_BY_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


class Engine(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        input_queue: sqs.IQueue,
        output_queue: sqs.IQueue,
        config: EngineConfig,
        defaults: FunctionDefaults,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.node.set_context(ACCESS_LOGS_BY_POLICY, True)  # before any child reads it
        self.media_bucket = self._media_bucket(removal_policy)
        self.state = dynamodb.Table(
            self,
            "State",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,  # a week of runs' progress: nothing to keep
        )
        task_timeout = Duration.seconds(config.taskTimeoutSeconds)
        # Not AWS's 6x the consumer's timeout (which leaves a crashed task waiting 90 minutes):
        # its timeout plus a margin, so that a task whose invocation died comes back soon. A
        # throttled batch may then be delivered twice; every task is safe to repeat. A task that
        # fails is made visible again sooner still by its handler (a short backoff).
        self.work = QueueWithDeadLetters(
            self,
            "Work",
            visibility_timeout=task_timeout.plus(WORK_VISIBILITY_MARGIN),
            max_receives=MAX_TASK_RECEIVES,
            dead_letter_visibility=Duration.seconds(6 * GAVE_UP_TIMEOUT.to_seconds()),
        )
        environment = {
            env.ENGINE_TABLE_NAME: self.state.table_name,
            env.WORK_QUEUE_URL: self.work.queue.queue_url,
            env.WORK_BUCKET: self.media_bucket.bucket_name,
            env.SPAN_SECONDS: str(config.spanSeconds),
            env.SEGMENT_AFTER_SECONDS: str(config.segmentAfterSeconds),
            env.MAX_INPUT_BYTES: str(config.maxInputBytes),
            env.MAX_INPUT_PIXELS: str(config.maxInputPixels),
            env.MAX_INPUT_SECONDS: str(config.maxInputSeconds),
            env.DOWNLOAD_SECONDS: str(config.downloadSeconds),
            env.ENCODER_PRESET: config.encoderPreset,
        }

        self.commands = PythonFunction(
            self,
            "Commands",
            handler="engine.handlers.commands.handler",
            description="The engine: START_JOB and CANCEL_JOB from the input queue",
            defaults=defaults,
            timeout=COMMANDS_TIMEOUT,
            memory_size=512,
            engine=True,
            environment={**environment, env.INPUT_QUEUE_URL: input_queue.queue_url},  # its backoff
        )
        self.commands.function.add_event_source(
            sources.SqsEventSource(input_queue, batch_size=10, report_batch_item_failures=True)
        )
        self.tasks = PythonFunction(
            self,
            "Tasks",
            handler="engine.handlers.tasks.handler",
            description="The engine: one task (validation, output, span, audio, join) per invocation",
            defaults=defaults,
            timeout=task_timeout,
            memory_size=config.memoryMb,
            ephemeral_storage_mb=config.ephemeralStorageMb,
            engine=True,
            environment=environment,
        )
        self.tasks.function.add_event_source(
            sources.SqsEventSource(
                self.work.queue,
                batch_size=1,
                max_concurrency=config.maxConcurrency,
                report_batch_item_failures=True,
            )
        )
        self.gave_up = PythonFunction(
            self,
            "GaveUp",
            handler="engine.handlers.gave_up.handler",
            description="The engine: ends the outputs whose tasks were dead-lettered",
            defaults=defaults,
            timeout=GAVE_UP_TIMEOUT,
            engine=True,
            environment=environment,
        )
        self.gave_up.function.add_event_source(
            sources.SqsEventSource(
                self.work.dead_letter_queue, batch_size=10, report_batch_item_failures=True
            )
        )

        functions = (self.commands, self.tasks, self.gave_up)
        for function in functions:
            self.state.grant(function.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
            grant_send(output_queue, function.function)  # the reports
        grant_send(self.work.queue, self.commands.function)
        grant_send(self.work.queue, self.tasks.function)
        self.work.queue.grant(self.tasks.function, "sqs:ChangeMessageVisibility")  # a retry's backoff
        media = MediaBucket(
            name="media",  # the stack's own (its name is the bucket's attribute, not this)
            inputPrefixes=list(MEDIA_INPUT_PREFIXES),
            outputPrefixes=[MEDIA_OUTPUT_PREFIX],
        )
        stack = Stack.of(self)
        logical_id = stack.resolve(stack.get_logical_id(self.media_bucket.node.default_child))  # type: ignore[arg-type]
        self._grant_prefixes(
            self.tasks, self.media_bucket.bucket_arn, media, work=True, named=f"<{logical_id}.Arn>"
        )
        for bucket in config.buckets:
            self._grant_prefixes(
                self.tasks,
                f"arn:{stack.partition}:s3:::{bucket.name}",
                bucket,
                work=False,
                named=f"arn:{nag_partition(self)}:s3:::{bucket.name}",
            )
            if bucket.kmsKeyArn:
                # SSE-KMS: reading an object decrypts, writing one (multipart too) needs a data key.
                kms.Key.from_key_arn(self, f"Key{bucket.name}", bucket.kmsKeyArn).grant(
                    self.tasks.function, "kms:Decrypt", "kms:GenerateDataKey"
                )

        CfnOutput(scope, "MediaBucketName", value=self.media_bucket.bucket_name)
        CfnOutput(scope, "EngineStateTableName", value=self.state.table_name)
        CfnOutput(scope, "WorkQueueUrl", value=self.work.queue.queue_url)
        CfnOutput(scope, "WorkDeadLetterQueueUrl", value=self.work.dead_letter_queue.queue_url)

    @property
    def functions(self) -> dict[str, lambda_.IFunction]:
        return {
            "EngineCommands": self.commands.function,
            "EngineTasks": self.tasks.function,
            "EngineGaveUp": self.gave_up.function,
        }

    def _media_bucket(self, removal_policy: RemovalPolicy) -> s3.Bucket:
        """Encrypted, private, TLS only, its access logged; work files expire, outputs never."""
        logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_EXPIRY)],
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )
        acknowledge(logs, "S1", "This bucket is the media bucket's access log: logging it again would loop.")
        return s3.Bucket(
            self,
            "Media",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=logs,
            server_access_logs_prefix="media/",
            lifecycle_rules=[
                s3.LifecycleRule(prefix=WORK_PREFIX, expiration=WORK_EXPIRY),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )

    @staticmethod
    def _grant_prefixes(
        function: PythonFunction, bucket_arn: str, bucket: MediaBucket, *, work: bool, named: str
    ) -> None:
        """Objects read under the input prefixes, written under the output prefixes; with ``work``,
        the work prefix read, written, listed and cleared. Exact actions, no ``s3:*``."""
        read = [*bucket.inputPrefixes, *([WORK_PREFIX] if work else [])]
        write = [*bucket.outputPrefixes, *([WORK_PREFIX] if work else [])]
        objects = [f"{bucket_arn}/{prefix}*" for prefix in read]
        function.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=objects))
        function.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[f"{bucket_arn}/{prefix}*" for prefix in write],
            )
        )
        if work:
            function.role.add_to_policy(
                iam.PolicyStatement(actions=["s3:DeleteObject"], resources=[f"{bucket_arn}/{WORK_PREFIX}*"])
            )
            function.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{WORK_PREFIX}*"]}},
                )
            )
        for prefix in sorted({*read, *write}):
            acknowledge(  # cdk-nag names the bucket as it appears in the template
                function.role,
                f"IAM5[Resource::{named}/{prefix}*]",
                "Objects under a prefix the engine uses (inputs read, outputs written, its work files): "
                "the keys are the jobs' own, only their prefixes are known; the actions are exact.",
            )
