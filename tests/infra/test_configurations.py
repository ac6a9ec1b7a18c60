"""The stack under each kind of configuration: bring-your-own queues, JWT auth, tracing, WAF,
removal policy, SnapStart. Every variant also passes the AWS Solutions checks (see conftest.synthesize)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import ACCOUNT, resources_of, synthesize
from tests.infra.test_stack import actions, granted, jobs_table, of_type, ref, statements_of

pytestmark = pytest.mark.infra
OWNER = "210987654321"  # the account of the existing CPE stack
INPUT_ARN = f"arn:aws:sqs:us-east-1:{OWNER}:cpe-input"
OUTPUT_ARN = f"arn:aws:sqs:us-east-1:{OWNER}:cpe-output"
INPUT_KEY = f"arn:aws:kms:us-east-1:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OUTPUT_KEY = f"arn:aws:kms:us-east-1:{OWNER}:key/abcd1234-ab12-cd34-ef56-abcdef123456"
ISSUER = "https://login.example.com/"
WEB_ACL = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/webacl/cpe/0123-abcd"
API = "functions.api.handler.handler"
TRACKER = "functions.tracker.handler.handler"
AUTHORIZER = "functions.authorizer.handler.handler"


BYO_CONFIG: dict[str, Any] = {
    "clientName": "video-site",
    "queues": {
        "input": {
            "url": f"https://sqs.us-east-1.amazonaws.com/{OWNER}/cpe-input",
            "kmsKeyArn": INPUT_KEY,
        },
        "output": {"arn": OUTPUT_ARN, "kmsKeyArn": OUTPUT_KEY},
    },
    "auth": {
        "mode": "jwt",
        "issuer": ISSUER,
        "audience": ["cpe-api", "cpe-cli"],
        "tokenUse": "access",
        "scopes": ["jobs/write", "jobs/read"],
    },
    "tracing": True,
    "webAclArn": WEB_ACL,
    "removalPolicy": "destroy",
    "retention": {"logsDays": 7},
    "alarmEmail": "ops@example.com",
    "workflow": {"taskList": "site_transcode"},
    "otherWorkflows": [{"name": "SATranscodeAssets", "taskList": "sa_transcode"}],
    "apiConcurrency": 25,
    "apiSnapStart": True,
}


@pytest.fixture(scope="module")
def byo() -> dict[str, Any]:
    """An existing CPE stack's queues (the input by URL with its KMS key, the output by ARN and
    key), JWT auth, tracing on, a web ACL, and resources destroyed with the stack."""
    return resources_of(synthesize("Byo", BYO_CONFIG))


def _function(resources: dict[str, Any], handler: str) -> dict[str, Any]:
    (function,) = [
        f["Properties"]
        for f in of_type(resources, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == handler
    ]
    return function


def _service_statements(resources: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    """The function's statements, without its own log group and X-Ray (checked elsewhere)."""
    return [
        s
        for s in statements_of(resources, handler)
        if not all(a.startswith(("logs:", "xray:")) for a in actions(s))
    ]


def test_bring_your_own_queues_creates_no_cpe_queue_and_no_engine_by_default(byo):
    # The only queues are the notifier's own (webhook deliveries, stream failures): the CPE stack
    # that owns the queues does the work, unless engine.mode says builtin.
    assert {name for name in of_type(byo, "AWS::SQS::Queue") if not name.startswith("Notifier")} == set()
    handlers = {f["Properties"]["Handler"] for f in of_type(byo, "AWS::Lambda::Function").values()}
    assert not any(h.startswith("engine.") for h in handlers)


def test_the_builtin_engine_can_read_queues_of_yours_when_asked():
    config = {**BYO_CONFIG, "engine": {"mode": "builtin"}}
    resources = resources_of(synthesize("ByoEngine", config))
    (commands,) = [
        name
        for name, f in of_type(resources, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "engine.handlers.commands.handler"
    ]
    (mapping,) = [
        m["Properties"]
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if ref(m["Properties"]["FunctionName"]) == commands
    ]
    assert mapping["EventSourceArn"] == INPUT_ARN


def test_the_api_may_only_send_to_the_given_input_queue_with_its_key(byo):
    statements = _service_statements(byo, API)
    by_service = {actions(s)[0].split(":")[0]: s for s in statements}
    assert set(by_service) == {"dynamodb", "sqs", "kms"}
    assert (actions(by_service["sqs"]), granted(by_service["sqs"])) == (["sqs:SendMessage"], [INPUT_ARN])
    assert sorted(actions(by_service["kms"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert granted(by_service["kms"]) == [INPUT_KEY]
    url = json.dumps(_function(byo, API)["Environment"]["Variables"]["INPUT_QUEUE_URL"])
    assert f"{OWNER}/cpe-input" in url


def test_the_tracker_consumes_the_given_output_queue_and_decrypts_with_its_key_only(byo):
    statements = _service_statements(byo, TRACKER)
    sqs = [s for s in statements if actions(s)[0].startswith("sqs:")]
    kms = [s for s in statements if actions(s)[0].startswith("kms:")]
    assert [granted(s) for s in sqs] == [[OUTPUT_ARN]]
    assert set(actions(sqs[0])) <= {
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert [granted(s) for s in kms] == [[OUTPUT_KEY]] and actions(kms[0]) == ["kms:Decrypt"]
    (mapping,) = [
        m
        for m in of_type(byo, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == OUTPUT_ARN
    ]
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_no_statement_names_a_resource_outside_the_stack_but_the_given_ones(byo):
    literal = {
        r
        for handler in (API, TRACKER, AUTHORIZER)
        for s in _service_statements(byo, handler)
        for r in granted(s)
        if isinstance(r, str)
    }
    assert literal == {INPUT_ARN, OUTPUT_ARN, INPUT_KEY, OUTPUT_KEY}


def test_jwt_mode_puts_the_token_authorizer_on_every_method(byo):
    methods = of_type(byo, "AWS::ApiGateway::Method")
    (authorizer_id, authorizer), *_ = of_type(byo, "AWS::ApiGateway::Authorizer").items()
    assert authorizer["Properties"]["Type"] == "TOKEN"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"CUSTOM"}
    assert {ref(m["Properties"]["AuthorizerId"]) for m in methods.values()} == {authorizer_id}
    variables = _function(byo, AUTHORIZER)["Environment"]["Variables"]
    assert (variables["JWT_ISSUER"], variables["JWT_AUDIENCE"]) == (ISSUER, "cpe-api,cpe-cli")
    assert (variables["JWT_TOKEN_USE"], variables["JWT_SCOPES"]) == ("access", "jobs/write jobs/read")
    # The authorizer touches nothing in AWS: its role writes its logs and traces, nothing else.
    assert _service_statements(byo, AUTHORIZER) == []


def test_tracing_is_on_for_every_function_and_the_stage(byo):
    for function in of_type(byo, "AWS::Lambda::Function").values():
        if function["Properties"]["Handler"].startswith(("functions.", "engine.")):  # not CDK's own
            assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    (stage,) = of_type(byo, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True
    for handler in (API, TRACKER, AUTHORIZER):
        xray = [s for s in statements_of(byo, handler) if actions(s)[0].startswith("xray:")]
        assert xray and all(a.startswith("xray:Put") for s in xray for a in actions(s))


def test_the_web_acl_is_associated_with_the_stage(byo):
    (association,) = of_type(byo, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == WEB_ACL
    assert "DeploymentStage" in json.dumps(association["Properties"]["ResourceArn"])


def test_configured_names_retention_and_removal_reach_the_resources(byo):
    variables = _function(byo, API)["Environment"]["Variables"]
    assert variables["CLIENT_NAME"] == "video-site"
    assert variables["WORKFLOW_TASK_LIST"] == "site_transcode" and variables["WORKFLOW_NAME"] == "Transcode"
    assert {g["Properties"]["RetentionInDays"] for g in of_type(byo, "AWS::Logs::LogGroup").values()} == {7}
    _, table = jobs_table(byo)
    assert table["DeletionPolicy"] == "Delete" and not table["Properties"].get("DeletionProtectionEnabled")
    assert json.loads(variables["OTHER_WORKFLOWS"]) == [
        {"name": "SATranscodeAssets", "version": "1.0", "taskList": "sa_transcode", "domain": "SADomain"}
    ]
    assert _function(byo, API)["ReservedConcurrentExecutions"] == 25
    (subscription,) = of_type(byo, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
