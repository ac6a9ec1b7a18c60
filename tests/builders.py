"""Small builders for messages and jobs, shared by the test tiers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from functions.jobs.machine import apply, derive, new_job
from functions.jobs.model import Job
from functions.jobs.protocol import (
    MessageType,
    OutputMessage,
    activity_message,
    parse_output_message,
    workflow_ended,
    workflow_scheduled,
)
from functions.jobs.rules import CompletionRule
from local.ct_simulator import job_input as ct_job_input

JOB_ID = "954e8de9dfa0d44d1e2f21eda6881e74"
RUN_ID = "22JYNIVqvmTcYlP3DDytCuoUSlLV2zD6B0K3zBg/b8e1Q="
WORKFLOW_ID = "55adb45aa2d089.51761449"


def job_input(outputs: int = 1, client: str = "ClientA") -> dict[str, Any]:
    return ct_job_input(JOB_ID, outputs, client_name=client, bucket="media")


def scheduled(
    t: float = 1.0,
    *,
    job_id: str = JOB_ID,
    run_id: str = RUN_ID,
    workflow_id: str = WORKFLOW_ID,
    outputs: int = 1,
    client: str = "ClientA",
) -> dict[str, Any]:
    return workflow_scheduled(
        job_id=job_id, run_id=run_id, workflow_id=workflow_id, input=job_input(outputs, client), time=t
    )


def act(
    kind: MessageType,
    activity_id: str,
    t: float,
    *,
    run_id: str = RUN_ID,
    result: Any = None,
    activity_type: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    if activity_type is None:
        activity_type = "ValidateAsset" if activity_id.startswith("Validate") else "TranscodeAsset"
    return activity_message(
        kind,
        run_id=run_id,
        workflow_id=WORKFLOW_ID,
        activity_id=activity_id,
        activity_type=activity_type,
        time=t,
        result=result,
        **kwargs,
    )


def ended(kind: MessageType, t: float, *, run_id: str = RUN_ID) -> dict[str, Any]:
    return workflow_ended(kind, run_id=run_id, workflow_id=WORKFLOW_ID, time=t)


def progress(activity_id: str, t: float, percent: float, **kwargs: Any) -> dict[str, Any]:
    return act(
        MessageType.ACTIVITY_PROGRESS,
        activity_id,
        t,
        result={"duration": 60.0, "done": 0.6 * min(percent, 100), "progress": percent},
        **kwargs,
    )


def parsed(body: dict[str, Any] | str, sent_at: float = 0.0) -> OutputMessage:
    return parse_output_message(body if isinstance(body, str) else json.dumps(body), sent_at)


def record(
    bodies: Iterable[dict[str, Any]], rule: CompletionRule | None = None, job: Job | None = None
) -> Job:
    """Apply ``bodies`` one by one to a job (new unless given), as a single-threaded consumer would."""
    messages = [parsed(body) for body in bodies]
    job = job or new_job(
        next(m.job_id for m in messages if m.job_id) if any(m.job_id for m in messages) else JOB_ID
    )
    for message in messages:
        run_id = message.run_id
        if run_id is None and message.workflow_id:
            run_id = next((r.runId for r in job.runs.values() if r.workflowId == message.workflow_id), None)
        apply(job, message, run_id)
    derive(job, rule or CompletionRule())
    return job


class ManualClock:
    """A clock that moves only when a test moves it (``clock.now += 60``)."""

    def __init__(self, now: float = 1_764_300_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
