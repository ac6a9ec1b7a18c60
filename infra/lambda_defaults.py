"""The shared Lambda defaults, in one place: every function of the stack is built here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions import env
from infra.bundling import functions_code
from infra.security import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
METRICS_NAMESPACE = "CpeServerless"


@dataclass(frozen=True)
class FunctionDefaults:
    """Settings every function shares (from the stack's configuration)."""

    service: str = "cpe-serverless"
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    log_removal: RemovalPolicy = RemovalPolicy.DESTROY
    tracing: bool = False
    log_level: str = "INFO"
    extra_environment: Mapping[str, str] = field(default_factory=dict)


class PythonFunction(Construct):
    """A function of the ``functions`` asset with the stack's defaults: arm64, Python 3.13,
    Powertools settings, its own log group with retention, and its own role that may write to that
    log group and nothing else until the caller grants what the function uses (no managed policy:
    AWSLambdaBasicExecutionRole would let it create and write any log group)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        defaults: FunctionDefaults,
        timeout: Duration,
        memory_size: int = 256,
        environment: Mapping[str, str] | None = None,
        reserved_concurrency: int | None = None,
        engine: bool = False,
        ephemeral_storage_mb: int | None = None,
        snap_start: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=defaults.log_retention, removal_policy=defaults.log_removal
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (function role)",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            role=self.role,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=functions_code(ARCHITECTURE, RUNTIME, engine=engine),
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb) if ephemeral_storage_mb else None,
            handler=handler,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE if defaults.tracing else lambda_.Tracing.DISABLED,
            environment={
                env.POWERTOOLS_SERVICE_NAME: defaults.service,
                env.POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
                env.POWERTOOLS_LOG_LEVEL: defaults.log_level,
                **defaults.extra_environment,
                **(environment or {}),
            },
        )
        if defaults.tracing:
            acknowledge(
                self.role,
                "IAM5[Resource::*]",
                "Tracing is on: X-Ray's PutTraceSegments and PutTelemetryRecords take no resource but *.",
            )
        acknowledge(
            self.function,
            "L1",
            "Python 3.13 on purpose: the asset's bytecode is compiled ahead by a 3.13 interpreter "
            "(cold import 885 ms -> 380 ms) and the tests run the bundle under it; move RUNTIME with them.",
        )
