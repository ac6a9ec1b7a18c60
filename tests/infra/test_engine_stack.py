"""The built-in engine in the template: its functions and their event sources, its queue, table and
media bucket, and exactly what each function may touch; absent when a CPE stack does the work."""

from __future__ import annotations

from typing import Any

import pytest

from engine.fanout import MAX_TASK_RECEIVES
from engine.state_dynamo import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from infra.engine import MEDIA_INPUT_PREFIXES, MEDIA_OUTPUT_PREFIX, WORK_PREFIX
from tests.infra.conftest import resources_of, synthesize
from tests.infra.test_stack import actions, granted, of_type, ref, statements_of

pytestmark = pytest.mark.infra
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
COMMANDS, TASKS, GAVE_UP = (f"engine.handlers.{name}.handler" for name in ("commands", "tasks", "gave_up"))


def function(resources: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    ((name, props),) = [
        (name, f["Properties"])
        for name, f in of_type(resources, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == handler
    ]
    return name, props


def mapping_of(resources: dict[str, Any], handler: str) -> dict[str, Any]:
    name, _ = function(resources, handler)
    (props,) = [
        m["Properties"]
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if ref(m["Properties"]["FunctionName"]) == name
    ]
    return props


def queue_named(resources: dict[str, Any], prefix: str) -> str:
    (name,) = [name for name in of_type(resources, "AWS::SQS::Queue") if name.startswith(prefix)]
    return name


def media_bucket(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((name, bucket),) = [
        (n, b) for n, b in of_type(resources, "AWS::S3::Bucket").items() if n.startswith("EngineMedia")
    ]
    return name, bucket


def test_the_engine_takes_commands_from_the_input_queue_and_tasks_from_its_own(resources):
    commands = mapping_of(resources, COMMANDS)
    assert ref(commands["EventSourceArn"]) == queue_named(resources, "QueuesInputQueue")
    assert commands["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    tasks = mapping_of(resources, TASKS)
    assert ref(tasks["EventSourceArn"]) == queue_named(resources, "EngineWorkQueue")
    assert (tasks["BatchSize"], tasks["ScalingConfig"]["MaximumConcurrency"]) == (1, 100)
    gave_up = mapping_of(resources, GAVE_UP)
    assert ref(gave_up["EventSourceArn"]) == queue_named(resources, "EngineWorkDeadLetters")
    work = of_type(resources, "AWS::SQS::Queue")[queue_named(resources, "EngineWorkQueue")]["Properties"]
    assert work["RedrivePolicy"]["maxReceiveCount"] == MAX_TASK_RECEIVES


def test_the_tasks_function_fits_a_1080p_job_by_default(resources):
    _, props = function(resources, TASKS)
    assert (props["MemorySize"], props["EphemeralStorage"]["Size"], props["Timeout"]) == (4096, 10240, 900)
    variables = props["Environment"]["Variables"]
    assert {"ENGINE_TABLE_NAME", "WORK_QUEUE_URL", "WORK_BUCKET", "SPAN_SECONDS", "MAX_INPUT_PIXELS"} <= set(
        variables
    )
    assert (variables["SPAN_SECONDS"], variables["ENCODER_PRESET"]) == ("60", "medium")


def test_the_state_table_keys_and_expiry_come_from_the_store(resources):
    (table,) = [
        t for n, t in of_type(resources, "AWS::DynamoDB::Table").items() if n.startswith("EngineState")
    ]
    props = table["Properties"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == [PARTITION_KEY, SORT_KEY]
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_the_media_bucket_is_private_encrypted_tls_only_logged_and_expires_work_files(resources):
    name, bucket = media_bucket(resources)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    rules = props["LifecycleConfiguration"]["Rules"]
    assert {"Prefix": WORK_PREFIX, "ExpirationInDays": 2, "Status": "Enabled"} in rules
    (policy,) = [
        p
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if ref(p["Properties"]["Bucket"]) == name
    ]
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket["DeletionPolicy"] == "Retain"  # the outputs outlive the stack


def _object_grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """action -> the object prefixes it is granted on (from ``<bucket ARN>/<prefix>*``)."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        for action in actions(statement):
            if action.startswith("s3:"):
                for resource in granted(statement):
                    joined = (
                        resource["Fn::Join"][1]
                        if isinstance(resource, dict) and "Fn::Join" in resource
                        else [resource]
                    )
                    tail = joined[-1] if isinstance(joined[-1], str) else ""
                    grants.setdefault(action, set()).add(tail)
    return grants


def test_the_tasks_function_touches_only_the_prefixes_it_uses(resources):
    statements = statements_of(resources, TASKS)
    grants = _object_grants(statements)
    assert set(grants) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:ListBucket",
    }
    assert grants["s3:GetObject"] == {f"/{p}*" for p in (*MEDIA_INPUT_PREFIXES, WORK_PREFIX)}
    assert grants["s3:PutObject"] == {f"/{p}*" for p in (MEDIA_OUTPUT_PREFIX, WORK_PREFIX)}
    assert grants["s3:DeleteObject"] == {f"/{WORK_PREFIX}*"}
    (listing,) = [s for s in statements if "s3:ListBucket" in actions(s)]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{WORK_PREFIX}*"]}}
    state = [s for s in statements if any(a.startswith("dynamodb:") for a in actions(s))]
    assert {a for s in state for a in actions(s)} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert all(ref(r).startswith("EngineState") for s in state for r in granted(s))
    sends = {ref(r) for s in statements if "sqs:SendMessage" in actions(s) for r in granted(s)}
    assert sends == {queue_named(resources, "EngineWorkQueue"), queue_named(resources, "QueuesOutputQueue")}


@pytest.mark.parametrize("handler", [COMMANDS, GAVE_UP])
def test_the_other_engine_functions_touch_no_media(resources, handler):
    statements = statements_of(resources, handler)
    assert not any(a.startswith(("s3:", "kms:")) for s in statements for a in actions(s))


@pytest.fixture(scope="module")
def external() -> dict[str, Any]:
    return resources_of(synthesize("EngineNone", {"engine": {"mode": "none"}}))


def test_with_a_cpe_stack_of_yours_there_is_no_engine(external):
    handlers = {f["Properties"]["Handler"] for f in of_type(external, "AWS::Lambda::Function").values()}
    assert not any(h.startswith("engine.") for h in handlers)
    assert not of_type(external, "AWS::S3::Bucket")


@pytest.fixture(scope="module")
def your_buckets() -> dict[str, Any]:
    config = {
        "engine": {
            "memoryMb": 8192,
            "maxConcurrency": 300,
            "buckets": [
                {
                    "name": "site-media",
                    "inputPrefixes": ["in/"],
                    "outputPrefixes": ["out/", "thumbs/"],
                    "kmsKeyArn": KEY,
                }
            ],
        }
    }
    return resources_of(synthesize("EngineBuckets", config))


def test_buckets_of_yours_are_granted_on_their_prefixes_and_keys(your_buckets):
    statements = statements_of(your_buckets, TASKS)
    flat = [
        r
        if isinstance(r, str)
        else "".join(p if isinstance(p, str) else "" for p in r.get("Fn::Join", ["", []])[1])
        for s in statements
        for r in granted(s)
    ]
    assert any(r.endswith(":s3:::site-media/in/*") for r in flat)
    assert any(r.endswith(":s3:::site-media/thumbs/*") for r in flat)
    assert not any(r.endswith(":s3:::site-media/*") for r in flat)  # not the whole bucket
    (key_grant,) = [s for s in statements if any(a.startswith("kms:") for a in actions(s))]
    assert sorted(actions(key_grant)) == ["kms:Decrypt", "kms:GenerateDataKey"]  # no wildcards
    assert granted(key_grant) == [KEY]
    _, props = function(your_buckets, TASKS)
    assert props["MemorySize"] == 8192
    assert mapping_of(your_buckets, TASKS)["ScalingConfig"]["MaximumConcurrency"] == 300
