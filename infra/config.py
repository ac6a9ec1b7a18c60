"""The stack's configuration: the CDK context key ``cpe`` (in cdk.json, or ``-c cpe='{...}'``).

Every key is optional; an invalid value fails synth with a message naming it. See the README's
"Configuration (stack)" table for what each key does.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.settings import X264Preset
from functions.api.cors import DEFAULT_MAX_AGE_SECONDS, ORIGIN
from functions.api.media import (
    DEFAULT_FORM_SECONDS,
    DEFAULT_LINK_SECONDS,
    DEFAULT_UPLOAD_RETENTION_DAYS,
    MAX_SIGNED_SECONDS,
    MAX_UPLOAD_BYTES,
)
from functions.api.settings import DEFAULT_WORKFLOW
from functions.jobs.rules import CompletionMode, CompletionRule

CONTEXT_KEY = "cpe"
QUEUE_ARN = r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$"
QUEUE_URL = (
    r"^https://sqs\.(?P<region>[a-z0-9-]+)\.(?P<suffix>amazonaws\.com(\.cn)?)"
    r"/(?P<account>\d{12})/(?P<name>[A-Za-z0-9_-]{1,80}(\.fifo)?)$"
)
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$"
USER_POOL_ARN = r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+_[0-9A-Za-z]+$"
WEB_ACL_ARN = r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[\w-]+/[\w-]+$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ConfigError(ValueError):
    """The stack's configuration is invalid; the message says which key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ExistingQueue(_Section):
    """A queue of an existing CPE stack, used instead of creating one: its ARN or its URL."""

    arn: Annotated[str, Field(pattern=QUEUE_ARN)] | None = None
    url: Annotated[str, Field(pattern=QUEUE_URL)] | None = None
    kmsKeyArn: Annotated[str, Field(pattern=KMS_KEY_ARN)] | None = Field(
        default=None, description="the queue's customer managed KMS key, if it has one"
    )

    @model_validator(mode="after")
    def _arn_or_url(self) -> ExistingQueue:
        if (self.arn is None) == (self.url is None):
            raise ValueError("give the queue's arn or its url (one of them)")
        return self

    @property
    def queue_arn(self) -> str:
        if self.arn is not None:
            return self.arn
        match = re.fullmatch(QUEUE_URL, self.url or "")
        if match is None:  # unreachable: the field's pattern
            raise ValueError(f"not a queue URL: {self.url}")
        partition = "aws-cn" if match["suffix"].endswith(".cn") else "aws"
        return f"arn:{partition}:sqs:{match['region']}:{match['account']}:{match['name']}"

    @property
    def name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[1]


class Queues(_Section):
    """Bring your own queues: both or neither (a stack writes to one and reports on the other)."""

    input: ExistingQueue | None = None
    output: ExistingQueue | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Queues:
        if (self.input is None) != (self.output is None):
            raise ValueError("give both queues.input and queues.output, or neither")
        if self.input is not None and self.output is not None:
            if self.input.queue_arn == self.output.queue_arn:
                raise ValueError("queues.input and queues.output must be different queues")
            if self.input.name.endswith(".fifo") or self.output.name.endswith(".fifo"):
                raise ValueError("CPE uses standard queues, not FIFO queues")
        return self

    @property
    def existing(self) -> bool:
        return self.input is not None


class IamAuth(_Section):
    mode: Literal["iam"] = "iam"


class CognitoAuth(_Section):
    mode: Literal["cognito"]
    userPoolArn: Annotated[str, Field(pattern=USER_POOL_ARN)]


class JwtAuth(_Section):
    """Any OIDC issuer's RS256 JWTs (checked by a Lambda authorizer: signature, issuer, audience, expiry)."""

    mode: Literal["jwt"]
    issuer: Annotated[str, Field(pattern=r"^https://[^\s/]+(/[^\s]*)?$", max_length=512)]
    audience: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]], Field(min_length=1)]
    tokenUse: Literal["access", "id"] | None = None
    scopes: Annotated[list[Annotated[str, Field(pattern=r"^\S{1,256}$")]], Field(max_length=20)] = []


# The retention periods CloudWatch Logs accepts, by the name CDK gives them.
LOG_RETENTION_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


class Retention(_Section):
    logsDays: int = 30

    @model_validator(mode="after")
    def _known_period(self) -> Retention:
        if self.logsDays not in LOG_RETENTION_DAYS:
            raise ValueError(f"retention.logsDays must be one of {sorted(LOG_RETENTION_DAYS)}")
        return self


class Workflow(_Section):
    """The SWF workflow a START_JOB asks for when the job names none (the CPE stack's own)."""

    name: Annotated[str, Field(min_length=1, max_length=256)] = DEFAULT_WORKFLOW["name"]
    version: Annotated[str, Field(min_length=1, max_length=64)] = DEFAULT_WORKFLOW["version"]
    taskList: Annotated[str, Field(min_length=1, max_length=256)] = DEFAULT_WORKFLOW["taskList"]
    domain: Annotated[str, Field(min_length=1, max_length=256)] = DEFAULT_WORKFLOW["domain"]


class Throttling(_Section):
    ratePerSecond: Annotated[float, Field(gt=0, le=10_000)] = 50
    burst: Annotated[int, Field(ge=1, le=5_000)] = 100


class Completion(_Section):
    mode: CompletionMode = CompletionRule().mode
    finalActivityTypes: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = sorted(
        CompletionRule().final_activity_types
    )
    finalActivityCount: Annotated[int, Field(ge=1)] | None = None

    def rule(self) -> CompletionRule:
        return CompletionRule(
            mode=self.mode,
            final_activity_types=frozenset(self.finalActivityTypes),
            final_activity_count=self.finalActivityCount,
        )


EVENT_BUS_ARN = r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.\-/]+$"


class Notifications(_Section):
    """Job state changes: an EventBridge bus (created, or yours) and webhooks."""

    busArn: Annotated[str, Field(pattern=EVENT_BUS_ARN)] | None = None
    webhookUrls: Annotated[
        list[Annotated[str, Field(pattern=r"^https://[^\s]+$", max_length=2048)]], Field(max_length=5)
    ] = []
    progressStep: Annotated[int, Field(ge=1, le=100)] = 10


BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
PREFIX = r"^[^*?]{0,512}$"


class MediaBucket(_Section):
    """A bucket of yours the engine reads inputs from and writes outputs to, under the prefixes
    named (empty string: the whole bucket)."""

    name: Annotated[str, Field(pattern=BUCKET_NAME)]
    inputPrefixes: Annotated[list[Annotated[str, Field(pattern=PREFIX)]], Field(min_length=1)] = [""]
    outputPrefixes: Annotated[list[Annotated[str, Field(pattern=PREFIX)]], Field(min_length=1)] = [""]
    kmsKeyArn: Annotated[str, Field(pattern=KMS_KEY_ARN)] | None = None


class EngineConfig(_Section):
    """The engine: ``builtin`` (this project's, on Lambda) or ``none`` (a CPE stack of yours reads
    the input queue). Unset, it is ``builtin``, or ``none`` with queues of yours (the CPE stack that
    owns them reads them: two readers of one queue would split its jobs). Defaults fit a 1080p job."""

    mode: Literal["builtin", "none"] | None = None
    memoryMb: Annotated[int, Field(ge=1024, le=10_240)] = 4096
    ephemeralStorageMb: Annotated[int, Field(ge=512, le=10_240)] = 10_240
    taskTimeoutSeconds: Annotated[int, Field(ge=60, le=900)] = 900
    maxConcurrency: Annotated[int, Field(ge=2, le=1000)] = 100
    spanSeconds: Annotated[int, Field(ge=2, le=600)] = 60
    segmentAfterSeconds: Annotated[int, Field(ge=0)] = 90
    encoderPreset: X264Preset = "medium"
    maxInputBytes: Annotated[int, Field(ge=1, le=10 * 1024**3)] = 8 * 1024**3
    maxInputPixels: Annotated[int, Field(ge=1)] = 8192 * 8192
    maxInputSeconds: Annotated[int, Field(ge=1)] = 6 * 3600
    downloadSeconds: Annotated[int, Field(ge=10, le=900)] = 600
    buckets: Annotated[list[MediaBucket], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _fits_the_function(self) -> EngineConfig:
        if self.maxInputBytes > self.ephemeralStorageMb * 1024**2:
            raise ValueError(
                "engine.maxInputBytes must fit in engine.ephemeralStorageMb (a whole output downloads it)"
            )
        if self.downloadSeconds >= self.taskTimeoutSeconds:
            raise ValueError("engine.downloadSeconds must be shorter than engine.taskTimeoutSeconds")
        return self


class Cors(_Section):
    """The origins browser apps may call the API from: none by default (no preflight, no grant)."""

    allowedOrigins: Annotated[list[Annotated[str, Field(pattern=ORIGIN)]], Field(max_length=20)] = []
    maxAgeSeconds: Annotated[int, Field(ge=0, le=7200)] = DEFAULT_MAX_AGE_SECONDS


class Media(_Section):
    """Browser uploads to the stack's media bucket and download links for outputs (builtin engine)."""

    uploadMaxBytes: Annotated[int, Field(ge=1, le=MAX_UPLOAD_BYTES)] = MAX_UPLOAD_BYTES
    uploadFormSeconds: Annotated[int, Field(ge=60, le=MAX_SIGNED_SECONDS)] = DEFAULT_FORM_SECONDS
    # A link lives at most as long as the API role's session (Lambda's: some hours).
    downloadLinkSeconds: Annotated[int, Field(ge=60, le=MAX_SIGNED_SECONDS)] = DEFAULT_LINK_SECONDS
    # Uploads are sources: once their jobs are done, they need not stay (outputs never expire).
    uploadRetentionDays: Annotated[int, Field(ge=1, le=3650)] = DEFAULT_UPLOAD_RETENTION_DAYS


class Console(_Section):
    """The jobs console (console/, built by `make console`): its files in S3 behind CloudFront,
    deployed by the stack; sign-in with the API's token issuer (OIDC code flow with PKCE). A browser
    cannot sign SigV4 requests: the console needs auth mode cognito or jwt."""

    enabled: bool = False
    # Auth mode cognito: the pool's sign-in domain, made by the stack (a Cognito prefix) or yours.
    domainPrefix: Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")] | None = None
    signInUrl: Annotated[str, Field(pattern=r"^https://[^\s/]+$", max_length=256)] | None = None
    # Auth mode jwt: the issuer's public app client (no secret) whose redirect is the console's URL.
    clientId: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^\S+$")] | None = None
    # Auth mode jwt: your issuer's other origins the browser calls (a token endpoint on another host).
    signInOrigins: Annotated[list[Annotated[str, Field(pattern=ORIGIN)]], Field(max_length=5)] = []


OwnerName = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^\x00-\x1f]+$")]


class Owners(_Section):
    """Who owns jobs (design section 8): the caller that submits them. IAM: its principal (a role's
    sessions count as the role). JWT and Cognito: ``claim``. ``clientNames`` gives an owner the
    client name its START_JOB carries (others get ``clientName``); ``operators`` see and act on
    every owner's jobs. Owners are named by ARN (a role's or a user's) or by claim value."""

    claim: Literal["sub", "client_id", "azp"] = "sub"
    clientNames: Annotated[
        dict[OwnerName, Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]],
        Field(max_length=100),
    ] = {}
    operators: Annotated[list[OwnerName], Field(max_length=20)] = []


class StackConfig(_Section):
    clientName: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = (
        "CpeServerless"
    )
    queues: Queues = Queues()
    auth: Annotated[IamAuth | CognitoAuth | JwtAuth, Field(discriminator="mode")] = IamAuth()
    owners: Owners = Owners()
    cors: Cors = Cors()
    media: Media = Media()
    console: Console = Console()
    removalPolicy: Literal["retain", "destroy"] = "retain"
    retention: Retention = Retention()
    alarmEmail: Annotated[str, Field(pattern=EMAIL, max_length=254)] | None = None
    tracing: bool = False
    throttling: Throttling = Throttling()
    apiConcurrency: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        default=None, description="reserved concurrency of the API function: a guard for the account"
    )
    apiSnapStart: bool = Field(
        default=False,
        description="SnapStart on the API function: a cold start restores a primed snapshot instead of "
        "importing and connecting (costs a cached snapshot per version and each restore)",
    )
    webAclArn: Annotated[str, Field(pattern=WEB_ACL_ARN)] | None = None
    completion: Completion = Completion()
    workflow: Workflow = Workflow()
    otherWorkflows: Annotated[list[Workflow], Field(max_length=20)] = []
    notifications: Notifications = Notifications()
    engine: EngineConfig = EngineConfig()
    stalledAfterMinutes: Annotated[int, Field(ge=20, le=7 * 24 * 60)] = Field(
        default=120,
        description="a job not ended that nothing was heard of for this long ends TIMED_OUT (the watchdog)",
    )

    @model_validator(mode="after")
    def _console_signs_in(self) -> StackConfig:
        console = self.console
        if not console.enabled:
            return self
        if isinstance(self.auth, IamAuth):
            raise ValueError(
                "console.enabled needs auth.mode cognito or jwt: a browser signs in for a token, "
                "it cannot sign SigV4"
            )
        if isinstance(self.auth, CognitoAuth) and (console.domainPrefix is None) == (
            console.signInUrl is None
        ):
            raise ValueError(
                "console: with auth.mode cognito, give exactly one of domainPrefix (the stack makes the "
                "pool's Cognito domain) or signInUrl (the pool's domain you have)"
            )
        if isinstance(self.auth, CognitoAuth) and self.owners.claim != "sub":
            raise ValueError(
                "console: with auth.mode cognito the console sends ID tokens, which name their user in "
                f"sub only: owners.claim must be sub, not {self.owners.claim}"
            )
        if isinstance(self.auth, JwtAuth) and console.clientId is None:
            raise ValueError(
                "console.clientId is required with auth.mode jwt: your issuer's public app client"
            )
        return self

    @property
    def engine_mode(self) -> Literal["builtin", "none"]:
        """``engine.mode``, or its default: ``none`` with queues of yours, ``builtin`` otherwise."""
        if self.engine.mode is not None:
            return self.engine.mode
        return "none" if self.queues.existing else "builtin"


def load_config(value: Any) -> StackConfig:
    """The configuration from the context value (an object, or a JSON string from ``-c``)."""
    if value is None:
        return StackConfig()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context '{CONTEXT_KEY}' is not valid JSON: {exc.msg}") from exc
    try:
        return StackConfig.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise ConfigError(f"invalid stack configuration: {problems}") from exc


def _problem(error: Any) -> str:
    path = ".".join(str(p) for p in error["loc"] if p not in ("iam", "cognito", "jwt"))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a valid {error['loc'][-1]}"
    return f"{CONTEXT_KEY}.{path}: {message}" if path else f"{CONTEXT_KEY}: {message}"
