"""The watchdog in the template: a schedule, its function and exactly the table rights it uses, and
an alarm when it ends a job."""

from __future__ import annotations

from typing import Any

import pytest

from functions.metrics import Metric
from tests.infra.conftest import resources_of, synthesize
from tests.infra.test_stack import actions, granted, jobs_table, of_type, ref, statements_of

pytestmark = pytest.mark.infra
HANDLER = "functions.watchdog.handler.handler"


def watchdog(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((name, props),) = [
        (name, f["Properties"])
        for name, f in of_type(resources, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == HANDLER
    ]
    return name, props


def test_a_schedule_wakes_the_watchdog_every_five_minutes_with_a_two_hour_limit(resources):
    name, props = watchdog(resources)
    (rule,) = of_type(resources, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert [ref(t["Arn"]) for t in rule["Properties"]["Targets"]] == [name]
    assert rule["Properties"]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    permissions = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if ref(p["Properties"]["FunctionName"]) == name
    ]
    assert [p["Principal"] for p in permissions] == ["events.amazonaws.com"]
    variables = props["Environment"]["Variables"]
    assert variables["STALLED_AFTER_SECONDS"] == str(120 * 60)
    assert variables["COMPLETION_MODE"]  # derives the job's view as the tracker does


def test_the_watchdog_queries_the_status_index_and_writes_jobs_back_nothing_more(resources):
    table_id, _ = jobs_table(resources)
    statements = statements_of(resources, HANDLER)
    table_statements = [s for s in statements if any(a.startswith("dynamodb:") for a in actions(s))]
    grants = {a: granted(s) for s in table_statements for a in actions(s)}
    assert set(grants) == {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem"}
    assert [ref(r) for r in grants["dynamodb:BatchGetItem"]] == [table_id]
    assert [ref(r) for r in grants["dynamodb:PutItem"]] == [table_id]
    (index,) = grants["dynamodb:Query"]
    parts = index["Fn::Join"][1]
    assert ref(parts[0]) == table_id and parts[1] == "/index/byStatus"
    assert not any(a.startswith(("sqs:", "s3:")) for s in statements for a in actions(s))


def test_a_job_ended_by_the_watchdog_raises_an_alarm(resources):
    alarms = [a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    (stalled,) = [a for a in alarms if a["MetricName"] == Metric.STALLED_JOBS]
    assert (stalled["Threshold"], stalled["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_the_limit_is_configured_in_minutes():
    _, props = watchdog(resources_of(synthesize("Watchdog", {"stalledAfterMinutes": 45})))
    assert props["Environment"]["Variables"]["STALLED_AFTER_SECONDS"] == str(45 * 60)
