"""The jobs table: keys and TTL attribute come from the PynamoDB records, never repeated here."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from functions.store.records import table_schema

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(spec: dict[str, str]) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=spec["name"], type=_TYPES[spec["type"]])


class JobsTable(Construct):
    """On demand, point-in-time recovery, encrypted with an AWS managed key, a stream of new and
    old images for the state-change consumers, and (when the stack retains its data) deletion
    protection: the table outlives a `cdk destroy` and cannot be deleted by mistake."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        schema = table_schema()
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_attribute(schema["partition_key"]),
            sort_key=_attribute(schema["sort_key"]),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            time_to_live_attribute=schema["ttl_attribute"],
            removal_policy=removal_policy,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        )
        for index in schema["global_secondary_indexes"]:
            self.table.add_global_secondary_index(
                index_name=index["name"],
                partition_key=_attribute(index["partition_key"]),
                sort_key=_attribute(index["sort_key"]) if index.get("sort_key") else None,
                projection_type=dynamodb.ProjectionType(index["projection"]),
            )
