"""CPE commands (client -> stack): START_JOB and CANCEL_JOB, and the CT job payload they carry.

Shapes and field names follow the PHP client SDK and the InputPoller (docs/protocol.md); bodies
are written as PHP's ``json_encode`` writes them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from functions.jobs.wire import JsonValue, Open


class WorkflowSpec(Open):
    """``data.workflow`` of START_JOB: which SWF workflow the InputPoller starts."""

    name: str
    version: str
    taskList: str
    domain: str
    executionStartToCloseTimeout: int | None = None


class ClientQueues(Open):
    input: str
    output: str


class ClientSpec(Open):
    """``data.client``: injected by the client SDK; activities route their messages with it."""

    name: str = Field(min_length=3, max_length=64)
    queues: ClientQueues


class Watermark(Open):
    bucket: str
    file: str
    size: str | None = None
    opacity: float | None = None
    x: int | None = None
    y: int | None = None


class InputAsset(Open):
    """``input_asset``: the source, in S3 (``bucket`` + ``file``) or at an ``http`` URL."""

    type: str
    bucket: str | None = None
    file: str | None = None
    http: str | None = None


class OutputAsset(Open):
    """One output (``output_asset`` or an item of ``output_assets``); fields per the CT docs."""

    type: str
    bucket: str | None = None
    file: str | None = None
    path: str | None = None
    s3_rrs: bool | None = None
    s3_encrypt: bool | None = None
    preset: str | None = None
    size: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    video_bitrate: str | None = None
    audio_bitrate: str | None = None
    frame_rate: float | None = None
    keep_ratio: bool | None = None
    no_enlarge: bool | None = None
    allow_upscale: bool | None = None
    watermark: Watermark | None = None
    custom_cmd: str | None = None
    mode: str | None = None
    snapshot_sec: int | None = None
    intervals: int | None = None


class JobPayload(Open):
    """The CT job: what the web app submits as START_JOB ``data`` (minus the injected ``client``)."""

    workflow: WorkflowSpec | None = None
    input_asset: InputAsset
    output_asset: OutputAsset | None = None
    output_assets: list[OutputAsset] | None = None

    def outputs(self) -> list[OutputAsset]:
        if self.output_assets is not None:
            return list(self.output_assets)
        return [self.output_asset] if self.output_asset is not None else []


class StartJobData(JobPayload):
    workflow: WorkflowSpec
    client: ClientSpec


class StartJob(Open):
    """The START_JOB envelope exactly as ``CpeClientSdk::start_job()`` builds it."""

    time: float
    type: Literal["START_JOB"] = "START_JOB"
    jobId: str
    data: StartJobData


class CancelJobData(Open):
    """What a CANCEL_JOB carries: the InputPoller requires ``data.workflow`` on every command."""

    workflow: WorkflowSpec
    client: ClientSpec
    runId: str | None = None
    workflowId: str | None = None


class CancelJob(Open):
    """CANCEL_JOB, in the envelope of START_JOB. The InputPoller maps the type but never
    implemented it: the original CPE stack ignores it (or dies on it, see docs/protocol.md)."""

    time: float
    type: Literal["CANCEL_JOB"] = "CANCEL_JOB"
    jobId: str
    data: CancelJobData


def start_job_body(*, job_id: str, time: float, data: dict[str, Any]) -> str:
    """A START_JOB body: ``data`` (with ``client`` injected) checked against :class:`StartJob` and
    sent with its keys in the order given, as the PHP SDK sends the client's JSON."""
    envelope = {"time": time, "type": "START_JOB", "jobId": job_id, "data": data}
    StartJob.model_validate(envelope)
    return php_json(envelope)


def cancel_job_body(*, job_id: str, time: float, data: dict[str, Any]) -> str:
    """A CANCEL_JOB body (see :class:`CancelJob`)."""
    envelope = {"time": time, "type": "CANCEL_JOB", "jobId": job_id, "data": data}
    CancelJob.model_validate(envelope)
    return php_json(envelope)


def php_json(document: BaseModel | dict[str, Any]) -> str:
    """JSON as PHP's ``json_encode`` writes it with default flags (the client SDK's wire format):
    compact, ASCII with ``\\u`` escapes, and ``/`` escaped as ``\\/``."""
    value = (
        document.model_dump(mode="json", exclude_none=True) if isinstance(document, BaseModel) else document
    )
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def count_outputs(payload: JsonValue) -> int:
    """Number of outputs a job payload asks for (``output_assets`` list or one ``output_asset``)."""
    if not isinstance(payload, dict):
        return 0
    outputs = payload.get("output_assets")
    if isinstance(outputs, list):
        return len(outputs)
    return 1 if isinstance(payload.get("output_asset"), dict) else 0
