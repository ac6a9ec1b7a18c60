"""Deployment smoke test: the synthesized template, with its asset zips, deployed into moto's
CloudFormation the way ``cdk deploy`` does it, reaches CREATE_COMPLETE, and what it created has
the properties the template declares.

moto does not model some resource types (listed in NOT_MODELLED with what covers them instead);
local.cloudformation leaves those out of the deployed copy."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.cloudformation import Deployment, deploy
from tests.infra.test_stack import jobs_table, of_type, ref

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("cdk_out")]
STACK = "CpeServerless"
# What moto's CloudFormation does not create, and what checks it instead.
NOT_MODELLED = {
    "AWS::ApiGateway::Stage": "test_api_stack (access logs, throttling, tracing); e2e tests drive the API",
    "AWS::ApiGateway::Account": "cdk-nag and cfn-lint on the template",
    "AWS::ApiGateway::GatewayResponse": "test_api_stack (every gateway error in the API's error shape)",
    "AWS::ApiGateway::Model": "test_api_stack (the request model is the pydantic schema, draft 4)",
    "AWS::ApiGateway::RequestValidator": "test_api_stack (every method validated)",
    "AWS::CloudWatch::Alarm": "test_monitoring (every DLQ, function, queue age, API 5xx)",
    "AWS::SQS::QueuePolicy": "test_stack (every queue refuses requests without TLS)",
    "AWS::S3::BucketPolicy": "test_engine_stack (the media bucket refuses requests without TLS)",
    "AWS::SNS::TopicPolicy": "test_monitoring (the topic and its key); cdk-nag SNS3",
    "AWS::SecretsManager::Secret": "test_notifier_stack (the delivery function may read it, and only it); "
    "the local stack creates a stand-in",
    "AWS::CDK::Metadata": "nothing to check: CDK's version report",
}


@pytest.fixture(scope="module")
def template(cdk_out: Path) -> dict[str, Any]:
    return dict(json.loads((cdk_out / f"{STACK}.template.json").read_text()))


@pytest.fixture(scope="module")
def aws(cdk_out: Path) -> Iterator[tuple[Deployment, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        with mock_aws(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns about each type it does not model
            logging.getLogger("moto").setLevel(logging.ERROR)
            session = boto3.Session(region_name="us-east-1")
            yield deploy(cdk_out, STACK, session), session


def test_the_stack_reaches_create_complete(aws, template):
    deployment, _ = aws
    assert (deployment.status, deployment.status_reason) == ("CREATE_COMPLETE", None)
    assert set(deployment.not_modelled.values()) <= set(NOT_MODELLED)
    modelled = set(template["Resources"]) - set(deployment.not_modelled)
    assert set(deployment.physical_ids) == modelled


def test_the_table_is_created_as_declared(aws, template):
    deployment, session = aws
    table_id, table = jobs_table(template["Resources"])
    declared = table["Properties"]
    name = deployment.physical_ids[table_id]
    assert deployment.outputs["JobsTableName"] == name
    described = session.client("dynamodb").describe_table(TableName=name)["Table"]
    assert described["KeySchema"] == declared["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(
        declared["AttributeDefinitions"], key=str
    )
    assert {i["IndexName"]: i["KeySchema"] for i in described["GlobalSecondaryIndexes"]} == {
        i["IndexName"]: i["KeySchema"] for i in declared["GlobalSecondaryIndexes"]
    }
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    # moto's CloudFormation drops SSESpecification and PointInTimeRecoverySpecification:
    # test_stack checks them on the template.


def test_the_queues_are_created_as_declared(aws, template):
    deployment, session = aws
    sqs = session.client("sqs")
    queues = of_type(template["Resources"], "AWS::SQS::Queue")
    urls = {logical_id: deployment.physical_ids[logical_id] for logical_id in queues}
    arns = {
        logical_id: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for logical_id, url in urls.items()
    }
    for logical_id, queue in queues.items():
        declared = queue["Properties"]
        attributes = sqs.get_queue_attributes(QueueUrl=urls[logical_id], AttributeNames=["All"])["Attributes"]
        assert attributes["SqsManagedSseEnabled"] == "true", logical_id
        assert int(attributes["MessageRetentionPeriod"]) == declared["MessageRetentionPeriod"]
        assert int(attributes["VisibilityTimeout"]) == declared.get("VisibilityTimeout", 30)
        if "RedrivePolicy" in declared:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert (
                redrive["deadLetterTargetArn"] == arns[ref(declared["RedrivePolicy"]["deadLetterTargetArn"])]
            )
            assert int(redrive["maxReceiveCount"]) == declared["RedrivePolicy"]["maxReceiveCount"]
    assert set(urls.values()) >= {deployment.outputs["InputQueueUrl"], deployment.outputs["OutputQueueUrl"]}


def test_the_functions_and_their_event_source_are_created_as_declared(aws, template):
    deployment, session = aws
    lambda_ = session.client("lambda")
    resources = template["Resources"]
    roles = set()
    for logical_id, function in of_type(resources, "AWS::Lambda::Function").items():
        declared = function["Properties"]
        configuration = lambda_.get_function_configuration(FunctionName=deployment.physical_ids[logical_id])
        assert configuration["Runtime"] == declared["Runtime"]
        # moto's CloudFormation drops Architectures (it reports x86_64): test_stack checks arm64.
        assert configuration["Handler"] == declared["Handler"]
        assert configuration["Timeout"] == declared["Timeout"]
        assert configuration["MemorySize"] == declared["MemorySize"]
        assert configuration["Role"].endswith("/" + deployment.physical_ids[ref(declared["Role"])])
        assert set(configuration["Environment"]["Variables"]) == set(declared["Environment"]["Variables"])
        assert configuration["CodeSize"] > 1_000_000  # the asset zip, uploaded and read back
        roles.add(configuration["Role"])
    assert len(roles) == len(of_type(resources, "AWS::Lambda::Function"))

    (mapping_id, mapping) = next(iter(of_type(resources, "AWS::Lambda::EventSourceMapping").items()))
    declared = mapping["Properties"]
    described = lambda_.get_event_source_mapping(UUID=deployment.physical_ids[mapping_id])
    assert described["BatchSize"] == declared["BatchSize"]
    assert described["MaximumBatchingWindowInSeconds"] == declared["MaximumBatchingWindowInSeconds"]
    assert described["FunctionResponseTypes"] == declared["FunctionResponseTypes"]
    assert described["FunctionArn"].endswith(":" + deployment.physical_ids[ref(declared["FunctionName"])])
    output_url = deployment.outputs["OutputQueueUrl"]
    output_arn = session.client("sqs").get_queue_attributes(QueueUrl=output_url, AttributeNames=["QueueArn"])
    assert described["EventSourceArn"] == output_arn["Attributes"]["QueueArn"]
