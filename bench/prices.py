"""AWS list prices the benchmarks turn measurements into money with: US East (N. Virginia),
on-demand, standard tiers, in US dollars, without free tiers.

Sources. The stored copies of aws.amazon.com's pricing pages render their tables in the browser, so
the figures marked [price list] were read from extracts of AWS's Price List bulk offer files for
us-east-1 (https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<Offer>/current/us-east-1/index.csv)
quoted in two public repositories: ocelhq/ocel docs/research/price-book.md ("retrieved
2026-09-06") and imiancrook/GitDAM docs/financials/infra_model.py (fetched 2026-09-29). Those marked
[pricing page] are from aws.amazon.com/<service>/pricing as quoted in copies dated 2026-06 to 2026-10
with less certainty. Check both against the pages before relying on a total.
"""

from __future__ import annotations

PRICES_CHECKED = "2026-09 (AWS Price List extracts for us-east-1)"

# AWS Lambda [price list]: arm64 compute (first 7.5 billion GB-s a month), requests, ephemeral
# storage over 512 MB. Lambda gives a function one vCPU's worth of CPU per 1,769 MB.
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_EPHEMERAL_GB_SECOND = 0.0000000309
LAMBDA_MB_PER_VCPU = 1769

# Amazon SQS standard queues [price list]: per request (each 64 KB of a payload is one request).
SQS_REQUEST = 0.40 / 1_000_000

# Amazon DynamoDB on-demand [price list]: per write request unit (1 KB of an item; 2 in a
# transaction), per read request unit (4 KB strongly consistent; 2 in a transaction), storage.
# Lambda's reads of a table's stream are free (DynamoDB developer guide, "Streams and Lambda").
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
DYNAMODB_GB_MONTH = 0.25

# Amazon S3 Standard [price list]: storage (first 50 TB), PUT/COPY/POST/LIST, GET and others.
S3_GB_MONTH = 0.023
S3_WRITE_REQUEST = 0.005 / 1000
S3_READ_REQUEST = 0.0004 / 1000

# [pricing page]: API Gateway REST APIs (first 333 million requests a month), EventBridge custom
# events (each 64 KB a event), CloudWatch alarms (standard resolution, per alarm a month), custom
# metrics and dashboards (a month), Secrets Manager (a secret a month), KMS (a key a month).
API_GATEWAY_REST_REQUEST = 3.50 / 1_000_000
EVENTBRIDGE_EVENT = 1.00 / 1_000_000
CLOUDWATCH_ALARM_MONTH = 0.10
CLOUDWATCH_METRIC_MONTH = 0.30  # a custom metric (name and dimensions), first 10,000
CLOUDWATCH_DASHBOARD_MONTH = 3.00
SECRETS_MANAGER_SECRET_MONTH = 0.40
KMS_KEY_MONTH = 1.00

# AWS Elemental MediaConvert [price list]: Basic tier, per normalized minute (first 100,000 a month);
# an SD output (under 720p) counts 1x, an HD one (720p-1080p) 2x, up to 30 fps, AVC single pass.
MEDIACONVERT_BASIC_NORMALIZED_MINUTE = 0.0075
MEDIACONVERT_BASIC_HD_MINUTE = MEDIACONVERT_BASIC_NORMALIZED_MINUTE * 2
MEDIACONVERT_BASIC_SD_MINUTE = MEDIACONVERT_BASIC_NORMALIZED_MINUTE


def lambda_compute(billed_seconds: float, memory_mb: int, ephemeral_mb: int = 512) -> float:
    """Lambda's charge for ``billed_seconds`` of a function of ``memory_mb`` (arm64)."""
    compute = billed_seconds * memory_mb / 1024 * LAMBDA_GB_SECOND
    return compute + billed_seconds * max(0, ephemeral_mb - 512) / 1024 * LAMBDA_EPHEMERAL_GB_SECOND
