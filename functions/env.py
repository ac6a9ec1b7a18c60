"""Names of the environment variables the functions read. Infra imports these too, so the two
sides cannot drift apart. Nothing here reads the environment."""

JOBS_TABLE_NAME = "JOBS_TABLE_NAME"
DYNAMODB_ENDPOINT = "DYNAMODB_ENDPOINT"  # local stack / tests only; unset on AWS
AWS_REGION = "AWS_REGION"  # set by Lambda itself
SQS_ENDPOINT = "SQS_ENDPOINT"  # local stack / tests only; unset on AWS
INPUT_QUEUE_URL = "INPUT_QUEUE_URL"  # where START_JOB / CANCEL_JOB go
OUTPUT_QUEUE_URL = "OUTPUT_QUEUE_URL"  # injected as data.client.queues.output
CLIENT_NAME = "CLIENT_NAME"  # CPE client.name
WORKFLOW_NAME = "WORKFLOW_NAME"
WORKFLOW_VERSION = "WORKFLOW_VERSION"
WORKFLOW_TASK_LIST = "WORKFLOW_TASK_LIST"
WORKFLOW_DOMAIN = "WORKFLOW_DOMAIN"
OTHER_WORKFLOWS = "OTHER_WORKFLOWS"  # JSON list of the other workflows a job may name
TRUSTED_URL_HOSTS = "TRUSTED_URL_HOSTS"  # local stack only: host:port endpoints trusted though local
ALLOW_CUSTOM_CMD = "ALLOW_CUSTOM_CMD"
COMPLETION_MODE = "COMPLETION_MODE"
FINAL_ACTIVITY_TYPES = "FINAL_ACTIVITY_TYPES"
FINAL_ACTIVITY_COUNT = "FINAL_ACTIVITY_COUNT"
STALLED_AFTER_SECONDS = "STALLED_AFTER_SECONDS"  # the watchdog: silence that ends a job TIMED_OUT
# Owners (design section 8): how callers become owners, their client names, the operators.
AUTH_MODE = "AUTH_MODE"  # iam, jwt or cognito: where the caller's identity is
OWNER_CLAIM = "OWNER_CLAIM"  # jwt and cognito: the claim that names the owner (sub, client_id, azp)
OWNER_CLIENT_NAMES = "OWNER_CLIENT_NAMES"  # JSON object: owner -> client name in START_JOB
OPERATORS = "OPERATORS"  # JSON list of the owners that see every owner's jobs
MEDIA_BUCKET = "MEDIA_BUCKET"  # the stack's media bucket: uploads and output links (unset: none)
UPLOAD_MAX_BYTES = "UPLOAD_MAX_BYTES"  # the largest upload a form allows
UPLOAD_SECONDS = "UPLOAD_SECONDS"  # how long an upload form stays valid
OUTPUT_LINK_SECONDS = "OUTPUT_LINK_SECONDS"  # how long an output's download link stays valid
WEBHOOKS_TABLE_NAME = "WEBHOOKS_TABLE_NAME"  # the owners' webhooks (URLs, signing secrets)
CORS_ORIGINS = "CORS_ORIGINS"  # JSON list of the origins browser apps may call the API from

# Read by Powertools itself.
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

# The JWT authorizer (auth mode "jwt").
JWT_ISSUER = "JWT_ISSUER"
JWT_AUDIENCE = "JWT_AUDIENCE"  # comma separated
JWT_TOKEN_USE = "JWT_TOKEN_USE"  # noqa: S105 - a variable name: the token_use claim required, if any
JWT_SCOPES = "JWT_SCOPES"  # space separated scopes every token must grant

# The notifier (state-change events) and webhook delivery.
EVENT_BUS_NAME = "EVENT_BUS_NAME"
WEBHOOK_QUEUE_URL = "WEBHOOK_QUEUE_URL"
WEBHOOK_URLS = "WEBHOOK_URLS"  # comma separated endpoints that get every event
WEBHOOK_SECRET_ARN = "WEBHOOK_SECRET_ARN"  # noqa: S105 - the name of a variable, not a secret
PROGRESS_STEP = "PROGRESS_STEP"  # percent: progress events only when a multiple of it is crossed

# The engine (engine.settings): its state, its work queue, where its work files go, its limits.
ENGINE_TABLE_NAME = "ENGINE_TABLE_NAME"
WORK_QUEUE_URL = "WORK_QUEUE_URL"
WORK_BUCKET = "WORK_BUCKET"  # the media bucket: spans and audio wait there for their join
SPAN_SECONDS = "SPAN_SECONDS"
SEGMENT_AFTER_SECONDS = "SEGMENT_AFTER_SECONDS"
MAX_INPUT_BYTES = "MAX_INPUT_BYTES"
MAX_INPUT_PIXELS = "MAX_INPUT_PIXELS"
MAX_INPUT_SECONDS = "MAX_INPUT_SECONDS"
DOWNLOAD_SECONDS = "DOWNLOAD_SECONDS"
ENCODER_PRESET = "ENCODER_PRESET"
PROGRESS_SECONDS = "PROGRESS_SECONDS"  # between ACTIVITY_PROGRESS reports (CT: about 10)
