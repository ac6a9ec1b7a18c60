"""The shared Lambda defaults, in one place: every function of the stack is built here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions import env
from infra.bundling import functions_code

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
    Powertools settings, its own log group with retention, its own role (created by Lambda)."""

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
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=defaults.log_retention, removal_policy=defaults.log_removal
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=functions_code(ARCHITECTURE, RUNTIME),
            handler=handler,
            timeout=timeout,
            memory_size=memory_size,
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
