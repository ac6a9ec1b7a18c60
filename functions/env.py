"""Names of the environment variables the functions read. Infra imports these too, so the two
sides cannot drift apart. Nothing here reads the environment."""

JOBS_TABLE_NAME = "JOBS_TABLE_NAME"
DYNAMODB_ENDPOINT = "DYNAMODB_ENDPOINT"  # local stack / tests only; unset on AWS
AWS_REGION = "AWS_REGION"  # set by Lambda itself
COMPLETION_MODE = "COMPLETION_MODE"
FINAL_ACTIVITY_TYPES = "FINAL_ACTIVITY_TYPES"
FINAL_ACTIVITY_COUNT = "FINAL_ACTIVITY_COUNT"

# Read by Powertools itself.
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
