"""The engine as its Lambda functions run it: settings read once, the AWS clients, the state on
DynamoDB, the work queue, and a reporter per run that sends CPE's messages to the run's client."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from engine.activities import EngineOptions
from engine.fanout import Engine, FanoutOptions
from engine.reporting import RunReporter
from engine.settings import EngineSettings
from engine.sources import INPUT_URLS, InputLimits
from engine.state import RunRecord
from engine.state_dynamo import DynamoEngineState
from engine.storage import Storage
from functions import env
from functions.messaging.base import MessageQueue
from functions.messaging.sqs import SqsQueue
from functions.shared import aws
from functions.shared.urls import UrlPolicy


@cache
def settings() -> EngineSettings:
    return EngineSettings.from_environ(os.environ)


@cache
def _sqs() -> Any:
    return aws.client("sqs", region=settings().region)


@cache
def engine() -> Engine:
    config = settings()
    output_queues: dict[str, SqsQueue] = {}

    def reporters(run: RunRecord, watch: Callable[[], None]) -> RunReporter:
        url = str(((run.data.get("client") or {}).get("queues") or {}).get("output") or "")
        queue = output_queues.setdefault(url, SqsQueue(_sqs, url))
        return RunReporter(
            run.job_id,
            run.run_id,
            run.workflow_id,
            send=lambda body: _send(queue, body),
            progress_interval=config.progress_seconds,
            transfer_interval=config.progress_seconds,
            watch=watch,
        )

    limits = InputLimits(
        max_bytes=config.max_input_bytes,
        download_seconds=config.download_seconds,
        http_policy=UrlPolicy(INPUT_URLS.schemes, config.trusted_url_hosts),
    )
    return Engine(
        state=DynamoEngineState(aws.client("dynamodb", region=config.region), config.engine_table, time.time),
        work=SqsQueue(_sqs, config.work_queue_url),
        reporters=reporters,
        storage=Storage(_s3(config.region), limits),
        options=EngineOptions(allow_custom_cmd=config.allow_custom_cmd, encoder_preset=config.encoder_preset),
        fanout=FanoutOptions(
            span_seconds=config.span_seconds,
            segment_after_seconds=config.segment_after_seconds,
            max_pixels=config.max_input_pixels,
            max_seconds=config.max_input_seconds,
            work_bucket=config.work_bucket,
        ),
    )


def _s3(region: str | None) -> Any:
    """boto3's S3 client (its managed transfers: multipart, parallel parts) on the shared session."""
    return aws.boto3_session().client("s3", region_name=region)


def work_queue() -> MessageQueue:
    return engine().work


@cache
def input_queue() -> MessageQueue:
    """The queue the commands come from (only the commands function is told its URL)."""
    url = settings().input_queue_url
    if url is None:
        raise RuntimeError(f"{env.INPUT_QUEUE_URL} is not set for this function")
    return SqsQueue(_sqs, url)


def _send(queue: SqsQueue, body: dict[str, Any]) -> None:
    queue.send(json.dumps(body, separators=(",", ":")))
