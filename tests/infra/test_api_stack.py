"""The job API in the template: authenticated and validated on every method, least privilege."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.api.models import ErrorBody, SubmitJobRequest
from functions.store.records import table_schema
from infra.api import TABLE_ACTIONS
from infra.api_schema import draft4_schema
from tests.infra.conftest import resources_of, synthesize
from tests.infra.test_stack import actions, granted, jobs_table, of_type, ref, statements_of

pytestmark = pytest.mark.infra
API = "functions.api.handler.handler"


def test_every_method_is_authorized_with_iam(resources):
    methods = of_type(resources, "AWS::ApiGateway::Method")
    assert len(methods) == 6 + 5  # the routes, and an ANY method on each of the five resources
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}


def test_every_resource_sends_the_methods_it_does_not_declare_to_the_handler(resources):
    methods = of_type(resources, "AWS::ApiGateway::Method").values()
    with_routes = {
        ref(m["Properties"]["ResourceId"]) for m in methods if m["Properties"]["HttpMethod"] != "ANY"
    }
    with_any = [ref(m["Properties"]["ResourceId"]) for m in methods if m["Properties"]["HttpMethod"] == "ANY"]
    assert sorted(with_any) == sorted(with_routes)
    integrations = {json.dumps(m["Properties"]["Integration"], sort_keys=True) for m in methods}
    assert len(integrations) == 1  # the same proxy integration: the handler answers 405 with Allow


def test_every_method_is_validated_and_job_bodies_against_the_models_schema(resources):
    methods = of_type(resources, "AWS::ApiGateway::Method")
    validators = of_type(resources, "AWS::ApiGateway::RequestValidator")
    models = of_type(resources, "AWS::ApiGateway::Model")
    for method in methods.values():
        validator = validators[ref(method["Properties"]["RequestValidatorId"])]["Properties"]
        assert validator["ValidateRequestParameters"] is True
    (post,) = [
        m
        for m in methods.values()
        if m["Properties"]["HttpMethod"] == "POST" and "RequestModels" in m["Properties"]
    ]
    assert (
        validators[ref(post["Properties"]["RequestValidatorId"])]["Properties"]["ValidateRequestBody"] is True
    )
    model = models[ref(post["Properties"]["RequestModels"]["application/json"])]["Properties"]
    assert model["Schema"] == json.loads(json.dumps(draft4_schema(SubmitJobRequest)))


def test_the_gateway_answers_its_own_errors_in_the_api_error_shape(resources):
    responses = of_type(resources, "AWS::ApiGateway::GatewayResponse")
    types = {r["Properties"]["ResponseType"] for r in responses.values()}
    assert {"BAD_REQUEST_BODY", "ACCESS_DENIED", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= types
    for response in responses.values():
        template = response["Properties"]["ResponseTemplates"]["application/json"]
        rendered = json.loads(template.replace("$context.error.messageString", '"a message"'))
        assert set(rendered) == set(ErrorBody.model_fields)


def test_the_stage_logs_access_and_throttles(resources):
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert "DestinationArn" in props["AccessLogSetting"]
    fields = json.loads(props["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "caller", "user"} <= set(fields)
    (settings,) = props["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (50, 100)
    assert settings["LoggingLevel"] == "ERROR" and settings["MetricsEnabled"] is True


def test_the_api_may_only_use_the_table_and_send_to_the_input_queue(resources):
    table_id, _ = jobs_table(resources)
    queues = of_type(resources, "AWS::SQS::Queue")
    statements = statements_of(resources, API)
    (table_statement,) = [s for s in statements if any(a.startswith("dynamodb:") for a in actions(s))]
    assert sorted(actions(table_statement)) == sorted(TABLE_ACTIONS)
    # The table and each of its indexes by name: no wildcard.
    indexes = {index["name"] for index in table_schema()["global_secondary_indexes"]}
    assert granted(table_statement)[0] == {"Fn::GetAtt": [table_id, "Arn"]}
    assert {r["Fn::Join"][1][1] for r in granted(table_statement)[1:]} == {
        f"/index/{name}" for name in indexes
    }
    (queue_statement,) = [s for s in statements if any(a.startswith("sqs:") for a in actions(s))]
    assert actions(queue_statement) == ["sqs:SendMessage"]
    (queue_id,) = [ref(r) for r in granted(queue_statement)]
    assert "Input" in queue_id and "DeadLetters" not in queue_id and queue_id in queues


def test_the_api_function_is_told_where_things_are(resources):
    (function,) = [
        f for f in of_type(resources, "AWS::Lambda::Function").values() if f["Properties"]["Handler"] == API
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert {"JOBS_TABLE_NAME", "INPUT_QUEUE_URL", "OUTPUT_QUEUE_URL", "CLIENT_NAME"} <= set(variables)
    assert variables["CLIENT_NAME"] == "CpeServerless"
    assert "TRUSTED_URL_HOSTS" not in variables and "ALLOW_CUSTOM_CMD" not in variables
    assert variables["OTHER_WORKFLOWS"] == "[]"  # only the stack's own workflow unless configured


@pytest.fixture(scope="module")
def cognito_resources() -> dict[str, Any]:
    arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
    return resources_of(synthesize("Cognito", {"auth": {"mode": "cognito", "userPoolArn": arn}}))


def test_cognito_mode_authorizes_every_method_with_the_user_pool(cognito_resources):
    methods = of_type(cognito_resources, "AWS::ApiGateway::Method")
    (authorizer_id,) = of_type(cognito_resources, "AWS::ApiGateway::Authorizer")
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"COGNITO_USER_POOLS"}
    assert {ref(m["Properties"]["AuthorizerId"]) for m in methods.values()} == {authorizer_id}
