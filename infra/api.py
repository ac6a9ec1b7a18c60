"""The job API: a REST API in front of one function, authenticated on every method."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from pydantic import BaseModel

from functions import env
from functions.api import cors, routes
from functions.api.media import OUTPUTS_PREFIX, UPLOADS_PREFIX
from functions.api.models import ErrorBody, SubmitJobRequest, UploadRequest, WebhookRequest
from functions.shared.settings import completion_environment
from functions.store.records import table_schema
from infra.api_schema import draft4_schema
from infra.config import CognitoAuth, IamAuth, JwtAuth, StackConfig
from infra.lambda_defaults import FunctionDefaults, PythonFunction
from infra.queues import grant_send
from infra.security import acknowledge

TIMEOUT = Duration.seconds(10)
# Fetching the issuer's keys on a cold start must fit in API Gateway's 29 s, with room to spare.
AUTHORIZER_TIMEOUT = Duration.seconds(10)
STAGE = "prod"
# The table actions the API's store uses: reads by key and through the indexes, conditional puts,
# deletes (a job whose START_JOB could not be sent, a released Idempotency-Key).
TABLE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem")

# What API Gateway answers by itself, in the API's one error shape (ErrorBody).
_GATEWAY_ERRORS = {
    apigateway.ResponseType.BAD_REQUEST_BODY: "INVALID_REQUEST",
    apigateway.ResponseType.BAD_REQUEST_PARAMETERS: "INVALID_REQUEST",
    apigateway.ResponseType.ACCESS_DENIED: "ACCESS_DENIED",
    apigateway.ResponseType.UNAUTHORIZED: "UNAUTHORIZED",
    apigateway.ResponseType.EXPIRED_TOKEN: "UNAUTHORIZED",
    apigateway.ResponseType.INVALID_SIGNATURE: "UNAUTHORIZED",
    apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN: "NOT_FOUND_OR_UNAUTHENTICATED",
    apigateway.ResponseType.THROTTLED: "THROTTLED",
    apigateway.ResponseType.QUOTA_EXCEEDED: "THROTTLED",
    apigateway.ResponseType.REQUEST_TOO_LARGE: "PAYLOAD_TOO_LARGE",
    apigateway.ResponseType.UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
    apigateway.ResponseType.INTEGRATION_TIMEOUT: "TIMEOUT",
    apigateway.ResponseType.DEFAULT_4_XX: "BAD_REQUEST",
    apigateway.ResponseType.DEFAULT_5_XX: "INTERNAL_ERROR",
}


# API Gateway caches an authorizer's answer per token for this long.
AUTHORIZER_CACHE = Duration.minutes(5)


class JobApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        input_queue: sqs.IQueue,
        output_queue: sqs.IQueue,
        config: StackConfig,
        defaults: FunctionDefaults,
        console_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        # Browser origins: the configured ones, and the stack's own console's.
        self.origins = [*config.cors.allowedOrigins, *console_origins]
        rule = config.completion.rule()
        workflow = config.workflow
        self.handler = PythonFunction(
            self,
            "Handler",
            handler="functions.api.handler.handler",
            description="The job API: submit, read, list, follow and cancel jobs",
            defaults=defaults,
            timeout=TIMEOUT,
            memory_size=512,
            # The account's concurrency is shared: a flood of API calls must not starve the tracker.
            reserved_concurrency=config.apiConcurrency,
            snap_start=config.apiSnapStart,
            environment={
                env.JOBS_TABLE_NAME: table.table_name,
                env.INPUT_QUEUE_URL: input_queue.queue_url,
                env.OUTPUT_QUEUE_URL: output_queue.queue_url,
                env.CLIENT_NAME: config.clientName,
                env.WORKFLOW_NAME: workflow.name,
                env.WORKFLOW_VERSION: workflow.version,
                env.WORKFLOW_TASK_LIST: workflow.taskList,
                env.WORKFLOW_DOMAIN: workflow.domain,
                env.OTHER_WORKFLOWS: json.dumps([w.model_dump() for w in config.otherWorkflows]),
                env.AUTH_MODE: config.auth.mode,
                env.OWNER_CLAIM: config.owners.claim,
                env.OWNER_CLIENT_NAMES: json.dumps(config.owners.clientNames),
                env.OPERATORS: json.dumps(config.owners.operators),
                env.CORS_ORIGINS: Stack.of(self).to_json_string(self.origins),
                **completion_environment(rule),
            },
        )
        self.function = self.handler.function
        # API Gateway invokes what it is given: with SnapStart, an alias of the published version
        # (a new one at each change of the function), since $LATEST never restores from a snapshot.
        self.invoked: lambda_.IFunction = self.function
        if config.apiSnapStart:
            self.invoked = lambda_.Alias(
                self, "Live", alias_name="live", version=self.function.current_version
            )
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "the alias publishes it; API Gateway calls the alias",
            )
        indexes = [
            f"{table.table_arn}/index/{index['name']}" for index in table_schema()["global_secondary_indexes"]
        ]
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[table.table_arn, *indexes])
        )
        grant_send(input_queue, self.function)

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=defaults.log_retention, removal_policy=defaults.log_removal
        )
        method_options = self._authorization(config, defaults)
        self.api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=f"{Stack.of(self).stack_name}-jobs",
            description="CPE serverless job API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=defaults.log_removal,
            default_method_options=method_options,
            default_cors_preflight_options=self._preflight(config),
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=defaults.tracing,
                throttling_rate_limit=config.throttling.ratePerSecond,
                throttling_burst_limit=config.throttling.burst,
            ),
        )
        for response_type, code in _GATEWAY_ERRORS.items():
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                response_headers={"Content-Type": "'application/json'", **self._gateway_grant()},
                templates={
                    "application/json": json.dumps(
                        {"code": code, "message": "MESSAGE", "details": None}
                    ).replace('"MESSAGE"', "$context.error.messageString")
                },
            )
        self._routes()
        self._acknowledge_findings(config)

    def _acknowledge_findings(self, config: StackConfig) -> None:
        acknowledge(
            self.api.node.find_child("CloudWatchRole"),
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role: AmazonAPIGatewayPushToCloudWatchLogs is the "
            "policy AWS documents for it, and it is what lets the stage write its access logs.",
        )
        if config.webAclArn is not None:
            wafv2.CfnWebACLAssociation(
                self, "WebAcl", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=config.webAclArn
            )
        else:
            acknowledge(
                self.api.deployment_stage,
                "APIG3",
                "No web ACL configured (cpe.webAclArn): every method requires SigV4 or a JWT and the "
                "stage is throttled; a WAF web ACL is an account-wide cost decision left to the deployer.",
            )
        if not isinstance(config.auth, CognitoAuth):
            mechanism = "SigV4 (IAM)" if isinstance(config.auth, IamAuth) else "the JWT authorizer"
            for method in self.api.methods:
                acknowledge(
                    method,
                    "COG4",
                    f"Authorized by {mechanism} as configured in cpe.auth; a Cognito user pool is one "
                    "of the auth modes, not the only one.",
                )

    def _authorization(self, config: StackConfig, defaults: FunctionDefaults) -> apigateway.MethodOptions:
        """IAM (SigV4) by default; a Cognito user pool's tokens; or any OIDC issuer's RS256 JWTs,
        checked by the authorizer function."""
        auth = config.auth
        self.authorizer_function: lambda_.IFunction | None = None
        if isinstance(auth, CognitoAuth):
            pool = cognito.UserPool.from_user_pool_arn(self, "UserPool", auth.userPoolArn)
            authorizer: apigateway.IAuthorizer = apigateway.CognitoUserPoolsAuthorizer(
                self, "Authorizer", cognito_user_pools=[pool], results_cache_ttl=AUTHORIZER_CACHE
            )
            return apigateway.MethodOptions(
                authorization_type=apigateway.AuthorizationType.COGNITO, authorizer=authorizer
            )
        if isinstance(auth, JwtAuth):
            function = PythonFunction(
                self,
                "Authorizer",
                handler="functions.authorizer.handler.handler",
                description="The job API's JWT authorizer: signature, issuer, audience, expiry",
                defaults=defaults,
                timeout=AUTHORIZER_TIMEOUT,
                environment={
                    env.JWT_ISSUER: auth.issuer,
                    env.JWT_AUDIENCE: ",".join(auth.audience),
                    **({env.JWT_TOKEN_USE: auth.tokenUse} if auth.tokenUse else {}),
                    **({env.JWT_SCOPES: " ".join(auth.scopes)} if auth.scopes else {}),
                },
            ).function
            self.authorizer_function = function
            authorizer = apigateway.TokenAuthorizer(
                self, "TokenAuthorizer", handler=function, results_cache_ttl=AUTHORIZER_CACHE
            )
            return apigateway.MethodOptions(
                authorization_type=apigateway.AuthorizationType.CUSTOM, authorizer=authorizer
            )
        return apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM)

    def serve_webhooks(self, table: dynamodb.ITable) -> None:
        """The callers' own webhooks: read, written (conditionally) and removed by owner."""
        self.handler.function.add_environment(env.WEBHOOKS_TABLE_NAME, table.table_name)
        table.grant(self.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")

    def serve_media(self, bucket: s3.IBucket, config: StackConfig) -> None:
        """Uploads to and output links from the stack's media bucket: the API presigns with its own
        role, which may write uploads and read outputs there, nothing else; browsers of the
        allowed origins may POST forms to it and GET from it."""
        media = config.media
        for name, value in {
            env.MEDIA_BUCKET: bucket.bucket_name,
            env.UPLOAD_MAX_BYTES: str(media.uploadMaxBytes),
            env.UPLOAD_SECONDS: str(media.uploadFormSeconds),
            env.OUTPUT_LINK_SECONDS: str(media.downloadLinkSeconds),
        }.items():
            self.handler.function.add_environment(name, value)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*")]
            )
        )
        stack = Stack.of(self)
        named = f"<{stack.resolve(stack.get_logical_id(bucket.node.default_child))}.Arn>"  # type: ignore[arg-type]
        for prefix, why in ((UPLOADS_PREFIX, "uploads written"), (OUTPUTS_PREFIX, "outputs read")):
            acknowledge(  # cdk-nag names the bucket as it appears in the template
                self.function.role,  # type: ignore[arg-type]
                f"IAM5[Resource::{named}/{prefix}*]",
                f"The API presigns forms and links under one prefix of the media bucket ({why}): the keys "
                "are the uploads' and the jobs' own, only the prefix is known; the action is exact.",
            )
        if isinstance(bucket, s3.Bucket):  # the stack's own: uploads are sources, kept for a while
            bucket.add_lifecycle_rule(
                prefix=UPLOADS_PREFIX, expiration=Duration.days(media.uploadRetentionDays)
            )
        if self.origins and isinstance(bucket, s3.Bucket):
            bucket.add_cors_rule(
                allowed_origins=self.origins,
                allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                allowed_headers=["*"],
                exposed_headers=["ETag", "Content-Length", "Content-Range"],
                max_age=config.cors.maxAgeSeconds,
            )

    def _preflight(self, config: StackConfig) -> apigateway.CorsOptions | None:
        """API Gateway answers every resource's OPTIONS itself (a mock integration, no auth), for the
        configured origins only; without any, there is no OPTIONS method and no grant."""
        if not self.origins:
            return None
        return apigateway.CorsOptions(
            allow_origins=self.origins,
            allow_methods=list(cors.ALLOWED_METHODS),
            allow_headers=list(cors.ALLOWED_HEADERS),
            expose_headers=list(cors.EXPOSED_HEADERS),
            max_age=Duration.seconds(config.cors.maxAgeSeconds),
        )

    def _gateway_grant(self) -> dict[str, str]:
        """The grant on API Gateway's own errors (401, 403, 429...), so that a browser app can read
        why it was refused. A gateway response cannot choose among origins: with one origin it
        names it; with several it echoes the caller's (the answer is an error, never a job)."""
        origins = self.origins
        if not origins:
            return {}
        return {
            "Access-Control-Allow-Origin": f"'{origins[0]}'"
            if len(origins) == 1
            else "method.request.header.Origin",
            "Access-Control-Expose-Headers": f"'{','.join(cors.EXPOSED_HEADERS)}'",
            "Vary": "'Origin'",
        }

    def _model(self, construct_id: str, model: type[BaseModel]) -> apigateway.Model:
        """A request model with the draft 4 schema of ``model`` (the L2 JsonSchema struct cannot
        hold every keyword: the schema is set on the CloudFormation resource)."""
        api_model = apigateway.Model(
            self,
            construct_id,
            rest_api=self.api,
            content_type="application/json",
            description=f"{model.__module__}.{model.__name__}",
            schema=apigateway.JsonSchema(),
        )
        cast(apigateway.CfnModel, api_model.node.default_child).schema = draft4_schema(model)
        return api_model

    def _routes(self) -> None:
        """Every route of functions.api.routes, with its parameters validated by API Gateway, and an
        ANY method on each resource: a method a route does not declare reaches the handler
        (authorized like the others), which answers 405 with Allow; without it API Gateway answers
        403 "Missing Authentication Token"."""
        api = self.api
        integration = apigateway.LambdaIntegration(self.invoked, proxy=True, allow_test_invoke=False)
        parameters = api.add_request_validator("Parameters", validate_request_parameters=True)
        body = api.add_request_validator(
            "BodyAndParameters", validate_request_body=True, validate_request_parameters=True
        )
        body_models = {
            "SubmitJobRequest": self._model("SubmitJobModel", SubmitJobRequest),
            "UploadRequest": self._model("UploadModel", UploadRequest),
            "WebhookRequest": self._model("WebhookModel", WebhookRequest),
        }
        self._model("ErrorModel", ErrorBody)
        resources: dict[str, apigateway.IResource] = {}
        for path in routes.resource_paths():
            parent, _, part = path.rpartition("/")
            resources[path] = (resources[parent] if parent else api.root).add_resource(part)
        for route in routes.ROUTES:
            request_parameters = {
                **{f"method.request.path.{name}": True for name in route.path_parameters},
                **{f"method.request.querystring.{name}": False for name in route.query},
                **{f"method.request.header.{name}": False for name in route.headers},
            }
            resources[route.path].add_method(
                route.method,
                integration,
                request_validator=body if route.body else parameters,
                request_models={"application/json": body_models[route.body]} if route.body else None,
                request_parameters=request_parameters or None,
            )
        for resource in resources.values():
            resource.add_method("ANY", integration, request_validator=parameters)

    @property
    def url(self) -> str:
        return self.api.url
