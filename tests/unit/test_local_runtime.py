"""The local Lambda runtime's handling of Powertools metrics, which local runs disable."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from local.event_source import LambdaContext, ScheduleEventSource, dropping_disabled_metrics, rate_seconds

metrics = Metrics(namespace="LocalRuntimeTest", service="test")


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    metrics.add_metric(name="Handled", unit=MetricUnit.Count, value=1)
    return {"handled": 1}


@pytest.fixture(autouse=True)
def disabled_metrics(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def test_disabled_metrics_pile_up_and_print_without_the_wrapper(capsys: pytest.CaptureFixture[str]):
    for _ in range(100):
        handler({}, LambdaContext())
    assert "LocalRuntimeTest" in capsys.readouterr().out  # Powertools prints them anyway at 100


def test_the_wrapper_drops_them_after_each_invocation(capsys: pytest.CaptureFixture[str]):
    invoke = dropping_disabled_metrics(handler)
    for _ in range(150):
        assert invoke({}, LambdaContext()) == {"handled": 1}
    assert capsys.readouterr().out == ""
    assert metrics.metric_set == {}


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(5 minutes)", 300), ("rate(1 minute)", 60), ("rate(2 hours)", 7200)]
)
def test_rate_expressions_become_seconds(expression: str, seconds: int):
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", "rate(5 fortnights)", "rate(-1 minutes)"])
def test_other_schedules_are_refused_by_name(expression: str):
    with pytest.raises(ValueError, match="only rate"):
        rate_seconds(expression)


def test_a_schedule_invokes_with_the_scheduled_event_shape_and_survives_a_failure():
    seen: list[tuple[dict[str, Any], Any]] = []

    def handler(event: dict[str, Any], context: Any) -> str:
        seen.append((event, context))
        if len(seen) == 2:
            raise RuntimeError("boom")
        return "done"

    arn = "arn:aws:events:eu-west-1:123456789012:rule/watchdog"
    schedule = ScheduleEventSource(handler, rule_arn=arn, every_seconds=300, timeout_ms=120_000)
    assert schedule.fire() == "done"
    assert schedule.fire() is None  # logged; the next firing goes on
    event, context = seen[0]
    assert (event["detail-type"], event["source"], event["resources"]) == (
        "Scheduled Event",
        "aws.events",
        [arn],
    )
    assert (event["region"], event["account"], event["detail"]) == ("eu-west-1", "123456789012", {})
    assert 0 < context.get_remaining_time_in_millis() <= 120_000
    assert (schedule.stats.invocations, schedule.stats.errors) == (2, 1)
