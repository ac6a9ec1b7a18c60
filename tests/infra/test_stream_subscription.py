"""A user's function on the jobs table's stream through infra.stream.JobStreamSubscription, in the
stack and from another stack (the JobsStreamArn output), with the AWS Solutions checks on."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.config import load_config
from infra.feature_flags import feature_flags
from infra.security import acknowledge
from infra.stack import CpeServerlessStack
from infra.stream import JOB_REMOVAL_FILTER, JobStreamSubscription, job_item_filter
from tests.infra.conftest import ACCOUNT, REGION
from tests.infra.test_stack import of_type, ref

pytestmark = pytest.mark.infra
ENV = cdk.Environment(account=ACCOUNT, region=REGION)


def _users_function(scope: cdk.Stack) -> lambda_.Function:
    role = iam.Role(scope, "ReportsRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    function = lambda_.Function(
        scope,
        "Reports",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
        role=role,
    )
    # The user's own function's findings (the subscription itself adds none unacknowledged).
    acknowledge(role, "IAM5[Resource::*]", "dynamodb:ListStreams has no resource-level permissions")
    acknowledge(function, "L1", "a test's function; its runtime is the user's choice")
    return function


def _mapping_of(template: dict, function_id: str) -> dict:
    (mapping,) = [
        m["Properties"]
        for m in of_type(template["Resources"], "AWS::Lambda::EventSourceMapping").values()
        if ref(m["Properties"]["FunctionName"]) == function_id
    ]
    return mapping


def _assert_subscribed(template: dict, function_id: str, statuses: list[str]) -> None:
    mapping = _mapping_of(template, function_id)
    removals = [] if statuses else [JOB_REMOVAL_FILTER]  # a removal has no status to filter on
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert patterns == [job_item_filter(statuses), *removals]
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["MaximumRetryAttempts"] == 10
    # Given up on for age while the stream (24 h) still holds it: readable back from the notice.
    assert mapping["MaximumRecordAgeInSeconds"] == 6 * 3600
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    failures = template["Resources"][ref(mapping["DestinationConfig"]["OnFailure"]["Destination"])]
    assert failures["Type"] == "AWS::SQS::Queue" and failures["Properties"]["SqsManagedSseEnabled"] is True


def test_a_users_function_in_the_stack_gets_ended_jobs_with_bisect_retries_and_an_on_failure_queue():
    app = cdk.App(context={**feature_flags(), "aws:cdk:bundling-stacks": []})
    stack = CpeServerlessStack(app, "Subscribed", config=load_config({}), env=ENV)
    function = _users_function(stack)
    JobStreamSubscription(
        stack, "ReportsOnJobs", table=stack.jobs.table, function=function, statuses=["COMPLETED", "FAILED"]
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises on a finding nobody acknowledged
    template = Template.from_stack(stack).to_json()
    _assert_subscribed(template, stack.get_logical_id(function.node.default_child), ["COMPLETED", "FAILED"])
    output = template["Outputs"]["JobsStreamArn"]["Value"]
    assert output["Fn::GetAtt"][1] == "StreamArn" and output["Fn::GetAtt"][0].startswith("Jobs")


def test_a_users_function_in_another_stack_subscribes_through_the_stream_arn_output():
    app = cdk.App(context={**feature_flags(), "aws:cdk:bundling-stacks": []})
    theirs = cdk.Stack(app, "Reporting", env=ENV)
    jobs = dynamodb.Table.from_table_attributes(
        theirs,
        "Jobs",
        table_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs",
        table_stream_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs/stream/2026-12-01T00:00:00.000",
    )
    function = _users_function(theirs)
    JobStreamSubscription(theirs, "ReportsOnJobs", table=jobs, function=function)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    template = Template.from_stack(theirs).to_json()
    _assert_subscribed(template, theirs.get_logical_id(function.node.default_child), [])
    reads = [
        s
        for p in of_type(template["Resources"], "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:GetRecords" in s["Action"]
    ]
    assert reads and all(s["Resource"].endswith("/stream/2026-12-01T00:00:00.000") for s in reads)


def test_retries_are_bounded():
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    table = dynamodb.Table.from_table_attributes(
        stack,
        "T",
        table_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t",
        table_stream_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/x",
    )
    with pytest.raises(ValueError, match="bounded retries"):
        JobStreamSubscription(stack, "X", table=table, function=_users_function(stack), retry_attempts=-1)
