"""Lambda entry point: a schedule (EventBridge) wakes the watchdog every few minutes."""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.metrics import Metric
from functions.store.dynamo import DynamoJobStore
from functions.watchdog.logic import Watchdog
from functions.watchdog.settings import WatchdogSettings

logger = Logger()
metrics = Metrics()


@cache
def _watchdog() -> Watchdog:
    settings = WatchdogSettings.from_environ(os.environ)
    return Watchdog(DynamoJobStore(settings.table), settings.rule, settings.stalled_after_seconds, time.time)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = _watchdog().sweep(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    for job_id in report.timed_out:
        logger.warning("job stalled: ended TIMED_OUT", job_id=job_id)
    metrics.add_metric(name=Metric.STALLED_JOBS, unit=MetricUnit.Count, value=len(report.timed_out))
    return {
        "examined": report.examined,
        "timedOut": len(report.timed_out),
        "revived": report.revived,
        "finished": report.finished,
    }
