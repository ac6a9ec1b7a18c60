"""Request and response models of the job API (they also make its OpenAPI schema).

Requests are strict: the job is the strict view of the CT job (functions.jobs.payload), refused at
the edge with a 400 naming the field when it does not fit.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from functions.jobs.model import JobStatus, Phase
from functions.jobs.names import HTTPS_URL, JOB_ID_PATTERN, MAX_JOB_ID_LENGTH, MAX_URL_LENGTH
from functions.jobs.payload import StrictJobPayload

JobId = Annotated[str, Field(min_length=1, max_length=MAX_JOB_ID_LENGTH, pattern=JOB_ID_PATTERN)]


# The CT job is the strict view of functions.jobs.payload.
class SubmitJobRequest(StrictJobPayload):
    """``POST /jobs``: the CT job, plus an optional ``jobId`` (yours, else generated) and an
    optional ``callbackUrl`` (https) for state-change webhooks."""

    jobId: JobId | None = None
    callbackUrl: str | None = Field(default=None, max_length=MAX_URL_LENGTH, pattern=HTTPS_URL)


# ------------------------------------------------------------------ responses


class ErrorBody(BaseModel):
    """Every error: a stable machine-readable ``code``, a human ``message``, optional ``details``."""

    code: str
    message: str
    details: Any = None


class ActivityOut(BaseModel):
    activityId: str
    activityType: str | None
    activityVersion: str | None
    status: str
    progress: int
    progressDetail: dict[str, float] | None = None
    startedAt: str | None
    finishedAt: str | None
    result: Any = Field(default=None, description="The activity's result (only with ?include=results)")
    resultSize: int | None = Field(default=None, description="Bytes of JSON of the result, if any")
    error: dict[str, Any] | None = None


class RunOut(BaseModel):
    runId: str
    workflowId: str | None
    status: JobStatus
    phase: Phase
    progress: int
    scheduledAt: str | None
    endedAt: str | None


class JobSummaryOut(BaseModel):
    jobId: str
    clientName: str | None
    owner: str | None  # the caller that submitted it (an IAM principal, a JWT claim); None: operators'
    status: JobStatus
    phase: Phase
    progress: int = Field(ge=0, le=100)
    runId: str | None
    createdAt: str | None
    updatedAt: str | None
    error: dict[str, Any] | None = None


class JobOut(JobSummaryOut):
    """A job (design section 3): status, progress, phase, the run, activities, probe, outputs."""

    workflowId: str | None
    workflowType: dict[str, str | None] | None
    lastEventAt: str | None
    dispatchedAt: str | None
    cancelRequested: bool
    cancelRequestedAt: str | None
    callbackUrl: str | None
    payload: dict[str, Any] | None = Field(description="The submitted job (or the workflow input)")
    probe: dict[str, Any] | None = Field(description="Summary of the input's ffprobe metadata")
    outputs: list[dict[str, Any]]
    activities: list[ActivityOut]
    runs: list[RunOut]


class JobList(BaseModel):
    items: list[JobSummaryOut]
    nextToken: str | None = Field(description="Pass as nextToken for the next page; null on the last page")


class EventOut(BaseModel):
    at: str
    event: str
    runId: str | None = None
    activityId: str | None = None
    activityType: str | None = None


class EventList(BaseModel):
    items: list[EventOut]
    nextToken: str | None
