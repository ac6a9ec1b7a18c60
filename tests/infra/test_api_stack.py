"""The job API in the template: authenticated and validated on every method, least privilege."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

from functions.api.cors import ALLOWED_METHODS
from functions.api.models import ErrorBody, SubmitJobRequest, UploadRequest, WebhookRequest
from functions.store.records import table_schema
from infra.api import TABLE_ACTIONS
from infra.api_schema import draft4_schema
from infra.config import ConfigError, load_config
from tests.infra.conftest import resources_of, synthesize
from tests.infra.test_stack import actions, granted, jobs_table, of_type, ref, statements_of

pytestmark = pytest.mark.infra
API = "functions.api.handler.handler"


def test_every_method_is_authorized_with_iam(resources):
    methods = of_type(resources, "AWS::ApiGateway::Method")
    assert len(methods) == 12 + 9  # the routes, and an ANY method on each of the nine resources
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
    with_bodies = [m["Properties"] for m in methods.values() if "RequestModels" in m["Properties"]]
    schemas = {}
    for post in with_bodies:
        assert post["HttpMethod"] in ("POST", "PUT")
        assert validators[ref(post["RequestValidatorId"])]["Properties"]["ValidateRequestBody"] is True
        schemas[ref(post["ResourceId"])] = models[ref(post["RequestModels"]["application/json"])][
            "Properties"
        ]
    by_schema = {json.dumps(model["Schema"], sort_keys=True) for model in schemas.values()}
    assert by_schema == {
        json.dumps(json.loads(json.dumps(draft4_schema(model))), sort_keys=True)
        for model in (SubmitJobRequest, UploadRequest, WebhookRequest)
    }


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
    (table_statement,) = [
        s
        for s in statements
        if any(table_id in json.dumps(r) for r in granted(s)) and "dynamodb:Query" in actions(s)
    ]
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


def _invoked(resources: dict[str, Any]) -> set[str]:
    """What the API's methods and API Gateway's invoke permissions point at (logical ids)."""
    uris = {
        json.dumps(m["Properties"]["Integration"]["Uri"])
        for m in of_type(resources, "AWS::ApiGateway::Method").values()
    }
    permitted = {
        json.dumps(p["Properties"]["FunctionName"])
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    return {*uris, *permitted}


def test_by_default_the_api_function_is_invoked_unpublished_without_snapstart(resources):
    (name, function) = next(
        (n, f)
        for n, f in of_type(resources, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == API
    )
    assert "SnapStart" not in function["Properties"]
    assert not of_type(resources, "AWS::Lambda::Alias")
    invoked = _invoked(resources)
    assert len(invoked) == 2 and all(f'"{name}"' in target for target in invoked)


def test_with_snapstart_api_gateway_invokes_an_alias_of_the_published_version():
    stack = synthesize("SnapStart", {"apiSnapStart": True})
    template = Template.from_stack(stack).to_json()
    findings = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id}: {m.message}" for m in findings if m.rule.id != "W3005"] == []
    resources = template["Resources"]
    functions = of_type(resources, "AWS::Lambda::Function")
    snapped = {f["Properties"]["Handler"] for f in functions.values() if "SnapStart" in f["Properties"]}
    assert snapped == {API}  # no other function: they answer no caller who waits
    (name,) = [n for n, f in functions.items() if f["Properties"]["Handler"] == API]
    assert functions[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    ((version_id, version),) = of_type(resources, "AWS::Lambda::Version").items()
    ((alias_id, alias),) = of_type(resources, "AWS::Lambda::Alias").items()
    assert ref(version["Properties"]["FunctionName"]) == name
    assert alias["Properties"]["FunctionName"] == {"Ref": name}
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    invoked = _invoked(resources)
    assert len(invoked) == 2  # the integration's URI and the invoke permissions, all on the alias
    assert all(f'{{"Ref": "{alias_id}"}}' in target for target in invoked)


@pytest.fixture(scope="module")
def cognito_resources() -> dict[str, Any]:
    arn = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
    return resources_of(synthesize("Cognito", {"auth": {"mode": "cognito", "userPoolArn": arn}}))


def test_cognito_mode_authorizes_every_method_with_the_user_pool(cognito_resources):
    methods = of_type(cognito_resources, "AWS::ApiGateway::Method")
    (authorizer_id,) = of_type(cognito_resources, "AWS::ApiGateway::Authorizer")
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"COGNITO_USER_POOLS"}
    assert {ref(m["Properties"]["AuthorizerId"]) for m in methods.values()} == {authorizer_id}


# ------------------------------------------------------------------ CORS

ORIGINS = ["https://app.example", "http://localhost:5173"]


@pytest.fixture(scope="module")
def cors_resources() -> dict[str, Any]:
    return resources_of(synthesize("Cors", {"cors": {"allowedOrigins": ORIGINS, "maxAgeSeconds": 300}}))


def test_a_stack_with_origins_answers_every_preflight_itself_without_auth(cors_resources):
    methods = of_type(cors_resources, "AWS::ApiGateway::Method").values()
    options = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] == "OPTIONS"]
    resources = {
        ref(m["Properties"]["ResourceId"]) for m in methods if m["Properties"]["HttpMethod"] == "ANY"
    }
    assert {ref(o["ResourceId"]) for o in options if "Ref" in o["ResourceId"]} == resources
    for preflight in options:
        assert preflight["AuthorizationType"] == "NONE"
        assert preflight["Integration"]["Type"] == "MOCK"
        (answer,) = preflight["Integration"]["IntegrationResponses"]
        headers = answer["ResponseParameters"]
        # CDK names the first origin, and the template echoes the others only if the caller is one.
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{ORIGINS[0]}'"
        template = answer["ResponseTemplates"]["application/json"]
        assert f'#if($origin == "{ORIGINS[1]}")' in template
        assert (
            headers["method.response.header.Access-Control-Allow-Methods"] == f"'{','.join(ALLOWED_METHODS)}'"
        )
        assert "Idempotency-Key" in headers["method.response.header.Access-Control-Allow-Headers"]
        assert headers["method.response.header.Access-Control-Max-Age"] == "'300'"
    others = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] != "OPTIONS"]
    assert {m["AuthorizationType"] for m in others} == {"AWS_IAM"}


def test_the_gateways_own_errors_and_the_function_grant_the_configured_origins(cors_resources):
    for response in of_type(cors_resources, "AWS::ApiGateway::GatewayResponse").values():
        headers = response["Properties"]["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
        assert headers["gatewayresponse.header.Vary"] == "'Origin'"
    (function,) = [
        f
        for f in of_type(cors_resources, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == API
    ]
    assert json.loads(function["Properties"]["Environment"]["Variables"]["CORS_ORIGINS"]) == ORIGINS


def test_a_stack_without_origins_has_no_preflight_and_grants_nothing(resources):
    methods = of_type(resources, "AWS::ApiGateway::Method").values()
    assert "OPTIONS" not in {m["Properties"]["HttpMethod"] for m in methods}
    for response in of_type(resources, "AWS::ApiGateway::GatewayResponse").values():
        assert set(response["Properties"]["ResponseParameters"]) == {"gatewayresponse.header.Content-Type"}


def test_an_origin_with_a_path_a_wildcard_or_plain_http_fails_synth():
    for origin in ("https://app.example/", "*", "https://*.example", "http://app.example"):
        with pytest.raises(ConfigError, match="allowedOrigins"):
            load_config({"cors": {"allowedOrigins": [origin]}})


# ------------------------------------------------------------------ uploads and output links


def test_the_api_may_write_uploads_and_read_outputs_of_the_media_bucket_only(resources):
    (function,) = [
        f for f in of_type(resources, "AWS::Lambda::Function").values() if f["Properties"]["Handler"] == API
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    (media,) = [
        k for k, v in of_type(resources, "AWS::S3::Bucket").items() if "Media" in k and "Logs" not in k
    ]
    assert variables["MEDIA_BUCKET"] == {"Ref": media}
    assert (variables["UPLOAD_MAX_BYTES"], variables["UPLOAD_SECONDS"], variables["OUTPUT_LINK_SECONDS"]) == (
        str(5 * 1024**3),
        "900",
        "3600",
    )
    s3 = [s for s in statements_of(resources, API) if any(a.startswith("s3:") for a in actions(s))]
    granted_objects = {
        (action, json.dumps(s["Resource"], sort_keys=True)) for s in s3 for action in actions(s)
    }
    assert granted_objects == {
        (
            "s3:PutObject",
            json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [media, "Arn"]}, "/uploads/*"]]}, sort_keys=True),
        ),
        (
            "s3:GetObject",
            json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [media, "Arn"]}, "/outputs/*"]]}, sort_keys=True),
        ),
    }


def test_browsers_of_the_allowed_origins_may_post_forms_to_and_read_from_the_media_bucket(
    cors_resources, resources
):
    (media,) = [
        b for k, b in of_type(cors_resources, "AWS::S3::Bucket").items() if "Media" in k and "Logs" not in k
    ]
    (rule,) = media["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == ORIGINS
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD", "POST"]
    (without,) = [
        b for k, b in of_type(resources, "AWS::S3::Bucket").items() if "Media" in k and "Logs" not in k
    ]
    assert "CorsConfiguration" not in without["Properties"]


def test_uploads_expire_from_the_media_bucket_and_outputs_never(resources):
    (media,) = [
        b for k, b in of_type(resources, "AWS::S3::Bucket").items() if "Media" in k and "Logs" not in k
    ]
    rules = media["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {r.get("Prefix"): r.get("ExpirationInDays") for r in rules if "ExpirationInDays" in r}
    assert expiring["uploads/"] == 30
    assert not [prefix for prefix in expiring if prefix and prefix.startswith("outputs")]
