"""Creating the stack's resources in an AWS emulator (moto), from the same definitions as the stack."""

from __future__ import annotations

import json
from typing import Any

from engine.state_dynamo import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from functions.store.records import table_schema
from functions.webhooks.dynamo import PARTITION_KEY as WEBHOOK_KEY

_KEY_TYPES = {"partition_key": "HASH", "sort_key": "RANGE"}


def create_webhooks_table(dynamodb: Any, name: str) -> None:
    """The owners' webhooks table (functions.webhooks.dynamo), as infra.notifier makes it."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": WEBHOOK_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": WEBHOOK_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_jobs_table(dynamodb: Any, name: str) -> None:
    """The jobs table, keys and TTL read from the PynamoDB records (as the CDK construct does)."""
    schema = table_schema()
    keys = [schema["partition_key"], schema["sort_key"]]
    definitions = {spec["name"]: spec["type"] for spec in keys}
    indexes = []
    for index in schema["global_secondary_indexes"]:
        index_keys = [(index["partition_key"], "HASH")] + (
            [(index["sort_key"], "RANGE")] if index.get("sort_key") else []
        )
        definitions.update({spec["name"]: spec["type"] for spec, _ in index_keys})
        indexes.append(
            {
                "IndexName": index["name"],
                "KeySchema": [{"AttributeName": spec["name"], "KeyType": kind} for spec, kind in index_keys],
                "Projection": {"ProjectionType": index["projection"]},
            }
        )
    arguments: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": spec["name"], "KeyType": _KEY_TYPES[role]}
            for role, spec in zip(_KEY_TYPES, keys, strict=True)
        ],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in definitions.items()],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    if indexes:
        arguments["GlobalSecondaryIndexes"] = indexes
    dynamodb.create_table(**arguments)
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["ttl_attribute"]}
    )


def create_queue_with_dlq(
    sqs: Any, name: str, *, visibility_timeout: int, max_receives: int
) -> tuple[str, str]:
    """A queue and its DLQ with a redrive policy. Returns (queue URL, DLQ URL)."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
            ),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


def create_engine_table(dynamodb: Any, name: str) -> None:
    """The engine's state table, keys and TTL from engine.state_dynamo (as the CDK construct does)."""
    keys = ((PARTITION_KEY, "HASH"), (SORT_KEY, "RANGE"))
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
