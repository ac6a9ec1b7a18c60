"""Fine-grained checks of the synthesized template (not resource counts)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from engine.fanout import MAX_TASK_RECEIVES
from functions.notifier.webhooks import MAX_ATTEMPTS
from functions.store.records import table_schema
from infra.lambda_defaults import ARCHITECTURE, RUNTIME
from infra.tracker import TABLE_ACTIONS

pytestmark = pytest.mark.infra


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def jobs_table(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The jobs table (the engine has a table of its own)."""
    ((name, table),) = [
        (name, t) for name, t in of_type(resources, "AWS::DynamoDB::Table").items() if name.startswith("Jobs")
    ]
    return name, table


def ref(value: Any) -> str:
    """The logical id a Ref / Fn::GetAtt points at."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def test_every_queue_is_encrypted_tls_only_and_dead_letters_to_an_encrypted_queue(resources):
    queues = of_type(resources, "AWS::SQS::Queue")
    policies = of_type(resources, "AWS::SQS::QueuePolicy")
    with_redrive = {name: q for name, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert with_redrive, "the output queue must have a DLQ"
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
        denies = [
            s
            for p in policies.values()
            if any(ref(q) == name for q in p["Properties"]["Queues"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, f"{name} must refuse requests without TLS"
    for name, queue in with_redrive.items():
        redrive = queue["Properties"]["RedrivePolicy"]
        # Webhook deliveries retry for a day, engine tasks MAX_TASK_RECEIVES times; everything else
        # dead-letters after 5 receives.
        expected = {"NotifierWebhooks": MAX_ATTEMPTS, "EngineWork": MAX_TASK_RECEIVES}
        receives = next((n for prefix, n in expected.items() if name.startswith(prefix)), 5)
        assert redrive["maxReceiveCount"] == receives, name
        assert ref(redrive["deadLetterTargetArn"]) in queues
        dead_letters = queues[ref(redrive["deadLetterTargetArn"])]["Properties"]
        assert "RedrivePolicy" not in dead_letters, name
        # A message keeps its first enqueue time in the DLQ: the DLQ must keep it longer.
        assert dead_letters["MessageRetentionPeriod"] > queue["Properties"]["MessageRetentionPeriod"], name


def test_queue_visibility_covers_six_times_its_consumer_but_the_engines_tasks(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    queues = of_type(resources, "AWS::SQS::Queue")
    mappings = {
        k: m
        for k, m in of_type(resources, "AWS::Lambda::EventSourceMapping").items()
        if ref(m["Properties"]["EventSourceArn"]) in queues
    }
    handlers = {
        functions[ref(m["Properties"]["FunctionName"])]["Properties"]["Handler"] for m in mappings.values()
    }
    assert handlers == {
        "functions.tracker.handler.handler",
        "functions.notifier.delivery.handler",
        "engine.handlers.commands.handler",
        "engine.handlers.tasks.handler",
        "engine.handlers.gave_up.handler",
    }
    for mapping in mappings.values():
        props = mapping["Properties"]
        queue = queues[ref(props["EventSourceArn"])]["Properties"]
        function = functions[ref(props["FunctionName"])]["Properties"]
        window = props.get("MaximumBatchingWindowInSeconds", 0)
        if function["Handler"] == "engine.handlers.tasks.handler":
            # Tasks are safe to repeat: a crashed one comes back 2 minutes after its timeout.
            assert queue["VisibilityTimeout"] == function["Timeout"] + 120
            continue
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"] + window


def test_tracker_event_source_reports_batch_item_failures(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    (mapping,) = [
        m
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if functions[ref(m["Properties"]["FunctionName"])]["Properties"]["Handler"]
        == "functions.tracker.handler.handler"
    ]
    props = mapping["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 100
    assert props["MaximumBatchingWindowInSeconds"] == 1
    queue = of_type(resources, "AWS::SQS::Queue")[ref(props["EventSourceArn"])]
    assert "RedrivePolicy" in queue["Properties"]


def test_jobs_table_keys_and_ttl_come_from_the_records(resources):
    _, table = jobs_table(resources)
    props = table["Properties"]
    schema = table_schema()
    assert props["KeySchema"] == [
        {"AttributeName": schema["partition_key"]["name"], "KeyType": "HASH"},
        {"AttributeName": schema["sort_key"]["name"], "KeyType": "RANGE"},
    ]
    indexes = schema["global_secondary_indexes"]
    keys = [schema["partition_key"], schema["sort_key"]] + [
        key for index in indexes for key in (index["partition_key"], index["sort_key"])
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        (key["name"], key["type"]) for key in keys
    }
    assert sorted(props["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"]) == sorted(
        (
            {
                "IndexName": index["name"],
                "KeySchema": [
                    {"AttributeName": index["partition_key"]["name"], "KeyType": "HASH"},
                    {"AttributeName": index["sort_key"]["name"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index["projection"]},
            }
            for index in indexes
        ),
        key=lambda i: i["IndexName"],
    )
    assert {index["name"] for index in indexes} == {"byCreated", "byStatus", "byOwner"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": schema["ttl_attribute"], "Enabled": True}


def test_jobs_table_is_on_demand_recoverable_encrypted_and_streams_both_images(template: Template):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                "DeletionProtectionEnabled": True,
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_functions_are_arm64_on_the_chosen_runtime_with_an_importable_handler(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Architectures"] == [ARCHITECTURE.name], name
        assert props["Runtime"] == RUNTIME.name, name
        module, attribute = props["Handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute)), name
        assert props["LoggingConfig"]["LogFormat"] == "JSON"


def test_each_function_has_its_own_role(resources):
    roles = [ref(f["Properties"]["Role"]) for f in of_type(resources, "AWS::Lambda::Function").values()]
    assert len(roles) == len(set(roles))


def test_no_policy_grants_a_wildcard_action(resources):
    for name, policy in of_type(resources, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all(action != "*" and not action.endswith(":*") for action in actions), (name, actions)


def statements_of(resources: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    """The policy statements of the role of the function whose handler is ``handler``."""
    functions = of_type(resources, "AWS::Lambda::Function")
    (role,) = [
        ref(f["Properties"]["Role"]) for f in functions.values() if f["Properties"]["Handler"] == handler
    ]
    return [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if any(ref(r) == role for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def granted(statement: dict[str, Any]) -> list[Any]:
    return statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]


def test_tracker_gets_exactly_the_table_actions_it_uses_on_the_table_only(resources):
    table_id, _ = jobs_table(resources)
    statements = statements_of(resources, "functions.tracker.handler.handler")
    (table_statement,) = [s for s in statements if any(a.startswith("dynamodb:") for a in actions(s))]
    assert sorted(actions(table_statement)) == sorted(TABLE_ACTIONS)
    assert [ref(r) for r in granted(table_statement)] == [table_id]  # not its indexes
    assert all(a.startswith(("dynamodb:", "sqs:", "logs:")) for s in statements for a in actions(s))


def test_tracker_is_configured_through_its_environment(template: Template, resources):
    table_id, _ = jobs_table(resources)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "functions.tracker.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "JOBS_TABLE_NAME": {"Ref": table_id},
                        "COMPLETION_MODE": "workflow-or-final-activities",
                        "FINAL_ACTIVITY_TYPES": "TranscodeAsset",
                        "FINAL_ACTIVITY_COUNT": "outputs",
                        "POWERTOOLS_SERVICE_NAME": Match.any_value(),
                        "POWERTOOLS_METRICS_NAMESPACE": Match.any_value(),
                    }
                )
            },
        },
    )


def test_log_groups_have_a_retention(resources):
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert groups
    assert all(g["Properties"]["RetentionInDays"] > 0 for g in groups.values())
    functions = of_type(resources, "AWS::Lambda::Function").values()
    assert {ref(f["Properties"]["LoggingConfig"]["LogGroup"]) for f in functions} <= set(groups)
