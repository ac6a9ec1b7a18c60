"""Request and response models of the job API (they also make its OpenAPI schema).

Requests are strict: the job is the strict view of the CT job (functions.jobs.payload), refused at
the edge with a 400 naming the field when it does not fit. Top-level keys the CT job does not know
are passed through to START_JOB as sent (a custom CPE workflow's plans and activities read their
own keys); ``metadata`` is the caller's own, kept with the job and returned, never sent to CPE.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, model_validator

from functions.api.media import CONTENT_TYPE, FILENAME
from functions.jobs.model import JobStatus, Phase
from functions.jobs.names import HTTP_URL, HTTPS_URL, JOB_ID_PATTERN, MAX_JOB_ID_LENGTH, MAX_URL_LENGTH
from functions.jobs.payload import JOB_SCHEMA_RULES, StrictJobPayload
from functions.shared.models import Model

JobId = Annotated[str, Field(min_length=1, max_length=MAX_JOB_ID_LENGTH, pattern=JOB_ID_PATTERN)]
# The caller's references (its video's id, its user's), not its data: flat, small, like Stripe's.
MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,40}$")]
MetadataValue = Annotated[str, Field(max_length=500)] | int | float | bool | None
MAX_METADATA_KEYS = 20
# Keys not matching the pattern are refused: the schema says so too (pydantic writes only the
# pattern, which JSON Schema reads as "other keys: anything").
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(max_length=MAX_METADATA_KEYS, json_schema_extra={"additionalProperties": False}),
]
MAX_KEYS = 30  # of the request's top level, the CT job's own and the API's included
PASSTHROUGH_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


# The CT job is the strict view of functions.jobs.payload.
class SubmitJobRequest(StrictJobPayload):
    """``POST /jobs``: the CT job, plus an optional ``jobId`` (yours, else generated) and an
    optional ``callbackUrl`` (https) for state-change webhooks."""

    # Unknown top-level keys are kept (in order) and passed through; nested objects stay strict.
    # The schema says so in terms draft 4 knows too (API Gateway validates with it).
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            **JOB_SCHEMA_RULES,  # a subclass's json_schema_extra replaces its parent's
            "allOf": [*JOB_SCHEMA_RULES["allOf"], {"not": {"required": ["client"]}}],
            "maxProperties": MAX_KEYS,
            "patternProperties": {f"^{PASSTHROUGH_KEY.pattern}$": {}},
            "additionalProperties": False,
        },
    )

    jobId: JobId | None = None
    callbackUrl: str | None = Field(default=None, max_length=MAX_URL_LENGTH, pattern=HTTPS_URL)
    metadata: Metadata | None = Field(
        default=None,
        description="yours: kept with the job, returned in its views, events and webhooks; never sent "
        "in START_JOB",
    )

    @model_validator(mode="after")
    def _passthrough(self) -> Self:
        extra = self.model_extra or {}
        if len(self.model_fields_set) > MAX_KEYS:  # the extra keys are in it too
            raise ValueError(f"at most {MAX_KEYS} keys")
        if "client" in extra:  # data.client is the stack's to set (the owner's client name, its queues)
            raise ValueError("client is set by the stack, not by a job")
        for key in extra:
            if not PASSTHROUGH_KEY.fullmatch(key):
                raise ValueError(
                    f"a passed-through key must match {PASSTHROUGH_KEY.pattern}, not {key[:80]!r}"
                )
        return self


class UploadRequest(Model):
    """An upload to ask for: its content type (a video, audio or image one) and, optionally, the
    file's name (kept at the end of the object's key)."""

    model_config = ConfigDict(extra="forbid")

    contentType: str = Field(pattern=CONTENT_TYPE, description="video/*, audio/* or image/*")
    filename: str | None = Field(default=None, pattern=FILENAME, description="the object's name")


class WebhookRequest(Model):
    """Where your jobs' events go: an https URL (http only for the local stack's own receivers),
    checked as callbackUrl is."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, pattern=HTTP_URL)


# ------------------------------------------------------------------ responses


class SecretOut(Model):
    createdAt: str
    expiresAt: str | None = Field(description="set once a rotation retired it: it signs until then")


class WebhookOut(Model):
    """Your webhook. ``secret`` is shown once: in the answer that made it (the first PUT, a
    rotation); verify deliveries with it (Standard Webhooks)."""

    url: str
    secret: str | None = None
    secrets: list[SecretOut] = Field(description="the secrets that sign, newest first (no values)")
    updatedAt: str


class UploadOut(Model):
    """A presigned POST form: POST ``fields`` then the file (last) as multipart/form-data to ``url``
    before ``expiresAt``; then submit a job whose ``input_asset`` is the one given here."""

    uploadId: str
    url: str
    fields: dict[str, str]
    expiresAt: str
    maxBytes: int
    input_asset: dict[str, str]
    output_prefix: str = Field(description="where your jobs may write in the media bucket (a CT file)")


class ErrorBody(Model):
    """Every error: a stable machine-readable ``code``, a human ``message``, optional ``details``."""

    code: str
    message: str
    details: Any = None


class ActivityOut(Model):
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


class RunOut(Model):
    runId: str
    workflowId: str | None
    status: JobStatus
    phase: Phase
    progress: int
    scheduledAt: str | None
    endedAt: str | None


class JobSummaryOut(Model):
    jobId: str
    clientName: str | None
    owner: str | None  # the caller that submitted it (an IAM principal, a JWT claim); None: operators'
    metadata: dict[str, Any] | None = None  # the caller's own, as submitted
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
    outputs: list[dict[str, Any]] = Field(
        description="Each object written; those in the stack's media bucket with a download link "
        "(url, urlExpiresAt)"
    )
    activities: list[ActivityOut]
    runs: list[RunOut]


class JobList(Model):
    items: list[JobSummaryOut]
    nextToken: str | None = Field(description="Pass as nextToken for the next page; null on the last page")


class EventOut(Model):
    at: str
    event: str
    runId: str | None = None
    activityId: str | None = None
    activityType: str | None = None


class EventList(Model):
    items: list[EventOut]
    nextToken: str | None
