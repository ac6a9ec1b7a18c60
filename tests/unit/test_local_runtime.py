"""The local Lambda runtime's handling of Powertools metrics, which local runs disable."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from local.event_source import LambdaContext, dropping_disabled_metrics

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
