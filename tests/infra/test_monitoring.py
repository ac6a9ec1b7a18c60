"""Alarms: every DLQ, every function's errors and throttles, the output queue's age, the API's 5xx;
all notify one encrypted topic, and the dashboard shows them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.test_stack import of_type, ref

pytestmark = pytest.mark.infra


def _alarms(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]


def _dimension(alarm: dict[str, Any], name: str) -> Any:
    (value,) = [d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name]
    return value


def test_every_dead_letter_queue_alarms_on_its_first_message(resources):
    queues = of_type(resources, "AWS::SQS::Queue")
    dead_letter_queues = {
        ref(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    } | {
        ref(m["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if "DestinationConfig" in m["Properties"]
    }
    # The input's, the output's, the engine's tasks', the webhook deliveries', and the stream
    # mapping's failures.
    assert len(dead_letter_queues) == 5
    watched = {
        ref(_dimension(alarm, "QueueName"))
        for alarm in _alarms(resources)
        if alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and alarm["Threshold"] == 1
        and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    }
    assert watched == dead_letter_queues


def test_every_function_alarms_on_errors_and_throttles(resources):
    functions = set(of_type(resources, "AWS::Lambda::Function"))
    for metric in ("Errors", "Throttles"):
        watched = {
            ref(_dimension(alarm, "FunctionName"))
            for alarm in _alarms(resources)
            if alarm["Namespace"] == "AWS/Lambda" and alarm["MetricName"] == metric
        }
        assert watched == functions, metric


def test_the_api_alarms_on_5xx_and_the_input_output_and_work_queues_on_age(resources):
    (api_id,) = of_type(resources, "AWS::ApiGateway::RestApi")
    api_name = resources[api_id]["Properties"]["Name"]
    (server_errors,) = [a for a in _alarms(resources) if a["MetricName"] == "5XXError"]
    assert _dimension(server_errors, "ApiName") == api_name
    ages = [a for a in _alarms(resources) if a["MetricName"] == "ApproximateAgeOfOldestMessage"]
    watched = {ref(_dimension(age, "QueueName")) for age in ages}
    # The input queue too: nothing else notices an engine (or CPE stack) that stopped taking jobs;
    # the engine's work queue: tasks waiting for the engine's maximum concurrency.
    prefixes = ("QueuesInput", "QueuesOutput", "EngineWorkQueue")
    assert {name for name in watched if name.startswith(prefixes)} == watched
    assert len(watched) == 3 and all("RedrivePolicy" in resources[name]["Properties"] for name in watched)
    assert {age["Threshold"] for age in ages} == {15 * 60}


def test_alarms_and_recoveries_notify_the_encrypted_topic(resources):
    (topic_id, topic), *_ = of_type(resources, "AWS::SNS::Topic").items()
    key = resources[ref(topic["Properties"]["KmsMasterKeyId"])]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    alarms = _alarms(resources)
    assert alarms
    for alarm in alarms:
        assert [ref(a) for a in alarm["AlarmActions"]] == [topic_id]
        assert [ref(a) for a in alarm["OKActions"]] == [topic_id]
        assert alarm["TreatMissingData"] == "notBreaching"
    # CloudWatch may use the key (and only for this account), or the alarms could not publish.
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert "aws:SourceAccount" in json.dumps(cloudwatch["Condition"])


def test_the_dashboard_shows_every_alarm(resources):
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for alarm_id in of_type(resources, "AWS::CloudWatch::Alarm"):
        assert alarm_id in body, alarm_id
