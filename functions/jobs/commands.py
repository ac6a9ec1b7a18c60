"""CPE commands (client -> stack): START_JOB and CANCEL_JOB, around the CT job payload they carry
(functions.jobs.payload).

Shapes and field names follow the PHP client SDK and the InputPoller (docs/protocol.md); bodies
are written as PHP's ``json_encode`` writes them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from functions.jobs.payload import JobPayload, WorkflowSpec
from functions.jobs.wire import Open


class ClientQueues(Open):
    input: str
    output: str


class ClientSpec(Open):
    """``data.client``: injected by the client SDK; activities route their messages with it."""

    name: str = Field(min_length=3, max_length=64)
    queues: ClientQueues


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
