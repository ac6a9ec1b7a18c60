"""The notifier in the template: the stream mapping's settings, the bus, the webhook queue, and
least privilege for both functions."""

from __future__ import annotations

import json

import pytest

from functions.notifier.webhooks import MAX_ATTEMPTS
from functions.store.layout import JOB_ITEM_FILTER
from functions.webhooks.dynamo import PARTITION_KEY, URL_ATTRIBUTES
from tests.infra.test_stack import actions, granted, of_type, ref, statements_of

pytestmark = pytest.mark.infra
NOTIFIER = "functions.notifier.handler.handler"
DELIVERY = "functions.notifier.delivery.handler"


def _stream_mappings(resources):
    return [
        m
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"].get("Fn::GetAtt", [None, None])[1] == "StreamArn"
    ]


def test_the_stream_mapping_filters_bisects_retries_ages_out_and_keeps_failures(resources):
    (mapping,) = _stream_mappings(resources)
    props = mapping["Properties"]
    assert props["StartingPosition"] == "LATEST"
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 10
    assert props["MaximumRecordAgeInSeconds"] == 24 * 3600
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]] == [JOB_ITEM_FILTER]
    # The queue's logical id is kept across versions: a new one would replace it, and lose its messages.
    assert ref(props["DestinationConfig"]["OnFailure"]["Destination"]) == "NotifierStreamFailures42EE6E0F"
    destination = resources[ref(props["DestinationConfig"]["OnFailure"]["Destination"])]
    assert (
        destination["Type"] == "AWS::SQS::Queue" and destination["Properties"]["SqsManagedSseEnabled"] is True
    )


def test_the_stream_has_no_more_than_two_consumers(resources):
    assert 1 <= len(_stream_mappings(resources)) <= 2


def test_the_stream_consumer_alarms_on_iterator_age(resources):
    functions = {ref(m["Properties"]["FunctionName"]) for m in _stream_mappings(resources)}
    watched = {
        ref(d["Value"])
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "IteratorAge"
        for d in a["Properties"]["Dimensions"]
    }
    assert watched == functions


def test_webhook_deliveries_retry_for_a_day_then_dead_letter(resources):
    queues = of_type(resources, "AWS::SQS::Queue")
    (webhooks,) = [q for name, q in queues.items() if name.startswith("NotifierWebhooksQueue")]
    assert webhooks["Properties"]["RedrivePolicy"]["maxReceiveCount"] == MAX_ATTEMPTS


def test_the_notifier_may_publish_to_its_bus_and_queue_deliveries_only(resources):
    (bus_id,) = of_type(resources, "AWS::Events::EventBus")
    services = {}
    for statement in statements_of(resources, NOTIFIER):
        for action in actions(statement):
            services.setdefault(action.split(":")[0], set()).update(json.dumps(r) for r in granted(statement))
    assert services["events"] == {json.dumps({"Fn::GetAtt": [bus_id, "Arn"]})}
    assert all("NotifierWebhooksQueue" in r or "NotifierStreamFailures" in r for r in services["sqs"])
    assert set(services) == {"logs", "events", "sqs", "dynamodb"}
    archives = of_type(resources, "AWS::Events::Archive")
    assert [ref(a["Properties"]["SourceArn"]) for a in archives.values()] == [bus_id]


def test_the_delivery_function_reads_only_its_secret_and_consumes_only_its_queue(resources):
    (secret_id,) = of_type(resources, "AWS::SecretsManager::Secret")
    by_service = {}
    for statement in statements_of(resources, DELIVERY):
        by_service.setdefault(actions(statement)[0].split(":")[0], []).append(statement)
    (secret_statement,) = by_service["secretsmanager"]
    assert granted(secret_statement) == [{"Ref": secret_id}]
    assert set(actions(secret_statement)) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    (queue_statement,) = by_service["sqs"]
    assert "sqs:ChangeMessageVisibility" in actions(queue_statement)  # the backoff
    assert [ref(r)[:21] for r in granted(queue_statement)] == ["NotifierWebhooksQueue"]
    (table_statement,) = by_service["dynamodb"]  # the owners' secrets
    assert actions(table_statement) == ["dynamodb:GetItem"]
    assert [ref(r) for r in granted(table_statement)] == [_webhooks_table(resources)]
    assert set(by_service) == {"logs", "secretsmanager", "sqs", "dynamodb"}


def _webhooks_table(resources) -> str:
    (table,) = [k for k in of_type(resources, "AWS::DynamoDB::Table") if "OwnerWebhooks" in k]
    return table


def test_the_owners_webhooks_have_a_table_of_their_own_encrypted_and_recoverable(resources):
    props = of_type(resources, "AWS::DynamoDB::Table")[_webhooks_table(resources)]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}]
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert "StreamSpecification" not in props


def test_the_notifier_reads_an_owners_url_never_its_secrets(resources):
    table = _webhooks_table(resources)
    (read,) = [s for s in statements_of(resources, NOTIFIER) if table in json.dumps(granted(s))]
    assert actions(read) == ["dynamodb:GetItem"]
    assert read["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"] == list(URL_ATTRIBUTES)
    assert read["Condition"]["StringEqualsIfExists"]["dynamodb:Select"] == "SPECIFIC_ATTRIBUTES"


def test_the_api_reads_writes_and_removes_owners_webhooks_and_nothing_reads_them_but_delivery(resources):
    table = _webhooks_table(resources)
    api = [
        s
        for s in statements_of(resources, "functions.api.handler.handler")
        if table in json.dumps(granted(s))
    ]
    assert {a for s in api for a in actions(s)} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    for handler in ("functions.tracker.handler.handler", "functions.watchdog.handler.handler"):
        assert not [s for s in statements_of(resources, handler) if table in json.dumps(s)]
