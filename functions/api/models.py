"""Request and response models of the job API (they also make its OpenAPI schema).

Requests are strict: unknown fields, wrong types, NaN and out-of-range values are refused at the
edge with a 400 naming the field. The job payload mirrors CT's ``input_asset`` / ``output_asset(s)``
(docs/protocol.md), with CT's type conversions checked up front instead of failing in the stack.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from functions.api.validation import BUCKET_PATTERN, KEY_PATTERN, MAX_URL_LENGTH, check_bucket, check_key
from functions.jobs.model import JobStatus, Phase

MAX_OUTPUTS = 20
_PORT = r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
_HOST_AND_PATH = rf"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?{_PORT}(/[^\s\x00-\x1f\x7f]*)?$"
HTTP_URL = rf"^https?://{_HOST_AND_PATH}"
HTTPS_URL = rf"^https://{_HOST_AND_PATH}"


def _given(field: str) -> dict[str, Any]:
    """JSON Schema: ``field`` is present and not null."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _absent(*fields: str) -> dict[str, Any]:
    """JSON Schema: none of ``fields`` is present (or they are null)."""
    return {"allOf": [{"not": _given(field)} for field in fields]}


def _types(*types: str) -> dict[str, Any]:
    return {"properties": {"type": {"enum": list(types)}}}


class _Strict(BaseModel):
    # strict: no coercion ("5" is not 5), so the request as sent is what START_JOB carries.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, defer_build=True)


Bucket = Annotated[
    str,
    Field(min_length=3, max_length=63, pattern=BUCKET_PATTERN, description="S3 bucket"),
    AfterValidator(check_bucket),
]
Key = Annotated[
    str,
    Field(
        min_length=1, max_length=1024, pattern=KEY_PATTERN, description="S3 key (S3 takes up to 1,024 bytes)"
    ),
    AfterValidator(check_key),
]


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Integers in a range. JSON Schema counts 5.0 as an integer, strict pydantic does not: integral
# floats are taken as ints.
Timeout = Annotated[int, Field(ge=1, le=31_536_000), BeforeValidator(_integral)]
Offset = Annotated[int, Field(ge=-10_000, le=10_000), BeforeValidator(_integral)]
Second = Annotated[int, Field(ge=0, le=86_400), BeforeValidator(_integral)]
Interval = Annotated[int, Field(ge=1, le=86_400), BeforeValidator(_integral)]
Quality = Annotated[int, Field(ge=1, le=100), BeforeValidator(_integral)]


Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Size = Annotated[str, Field(max_length=16, pattern=r"^(-1|-2|\d{1,5})[x:](-1|-2|\d{1,5})$")]
Bitrate = Annotated[str, Field(max_length=10, pattern=r"^\d{1,6}[kKmM]?$")]
JobId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class WorkflowIn(_Strict):
    """``data.workflow``: the SWF workflow the CPE InputPoller starts (defaults: the stack's)."""

    name: Token
    version: Token
    taskList: Token
    domain: Token
    executionStartToCloseTimeout: Timeout | None = None


class InputAssetIn(_Strict):
    """The source: an S3 object (``bucket`` + ``file``) or an ``http(s)`` URL (VIDEO only, as in CT)."""

    # The rule of _one_source, stated in the schema too.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"allOf": [_given("bucket"), _given("file"), _absent("http")]},
                {"allOf": [_given("http"), _absent("bucket", "file"), _types("VIDEO")]},
            ]
        }
    )

    type: Literal["VIDEO", "IMAGE", "AUDIO"]
    bucket: Bucket | None = None
    file: Key | None = None
    http: str | None = Field(default=None, max_length=MAX_URL_LENGTH, pattern=HTTP_URL)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        s3 = self.bucket is not None or self.file is not None
        if s3 == (self.http is not None):
            raise ValueError("give either bucket and file, or http")
        if s3 and (self.bucket is None or self.file is None):
            raise ValueError("an S3 source needs both bucket and file")
        if self.http is not None and self.type != "VIDEO":
            raise ValueError("an http source is only supported for VIDEO")
        return self


class WatermarkIn(_Strict):
    bucket: Bucket
    file: Key
    size: Size | None = None
    opacity: float | None = Field(default=None, ge=0, le=1)
    x: Offset | None = None
    y: Offset | None = None


class OutputAssetIn(_Strict):
    """One output, with CT's fields (docs/protocol.md). ``custom_cmd`` is refused unless the stack
    enables it."""

    type: Literal["VIDEO", "THUMB", "IMAGE", "AUDIO"]
    bucket: Bucket
    file: Key
    path: Key | None = None
    s3_rrs: bool | None = None
    s3_encrypt: bool | None = None
    preset: Token | None = None
    size: Size | None = None
    video_codec: Token | None = None
    audio_codec: Token | None = None
    video_bitrate: Bitrate | None = None
    audio_bitrate: Bitrate | None = None
    frame_rate: float | None = Field(default=None, gt=0, le=240)
    keep_ratio: bool | None = None
    no_enlarge: bool | None = None
    allow_upscale: bool | None = None
    watermark: WatermarkIn | None = None
    custom_cmd: str | None = Field(default=None, max_length=4096)
    mode: Literal["snapshot", "intervals"] | None = None
    snapshot_sec: Second | None = None
    intervals: Interval | None = None
    resize: str | None = Field(default=None, max_length=32, pattern=r"^\d{1,5}(x\d{1,5})?[%!<>^]?$")
    quality: Quality | None = None
    crop: str | None = Field(default=None, max_length=32, pattern=r"^\d{1,5}x\d{1,5}([+-]\d{1,5}){2}$")
    thumbnail: str | None = Field(default=None, max_length=32, pattern=r"^\d{1,5}(x\d{1,5})?$")


# CT's allowed conversions (TranscodeAssetActivity::validate_input); anything else is CONVERSION_TYPE_ERROR.
CONVERSIONS = {"VIDEO": {"VIDEO", "THUMB", "AUDIO"}, "IMAGE": {"IMAGE"}, "AUDIO": {"AUDIO"}}


def _outputs_of(*types: str) -> dict[str, Any]:
    return {
        "properties": {
            "output_asset": {"anyOf": [{"type": "null"}, _types(*types)]},
            "output_assets": {"anyOf": [{"type": "null"}, {"type": "array", "items": _types(*types)}]},
        }
    }


def _when_input(kind: str, then: dict[str, Any]) -> dict[str, Any]:
    """``if input_asset.type == kind then ...``, written as ``not if or then`` (also valid draft 4)."""
    return {"anyOf": [{"not": {"properties": {"input_asset": _types(kind)}}}, then]}


class SubmitJobRequest(_Strict):
    """``POST /jobs``: the CT job, plus an optional ``jobId`` (yours, else generated) and an
    optional ``callbackUrl`` (https) for state-change webhooks."""

    # The rules of _outputs, stated in the schema too.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"allOf": [_given("output_asset"), _absent("output_assets")]},
                {"allOf": [_given("output_assets"), _absent("output_asset")]},
            ],
            "allOf": [
                _when_input(kind, _outputs_of(*sorted(allowed))) for kind, allowed in CONVERSIONS.items()
            ],
        }
    )

    jobId: JobId | None = None
    workflow: WorkflowIn | None = None
    input_asset: InputAssetIn
    output_asset: OutputAssetIn | None = None
    output_assets: list[OutputAssetIn] | None = Field(default=None, min_length=1, max_length=MAX_OUTPUTS)
    callbackUrl: str | None = Field(default=None, max_length=MAX_URL_LENGTH, pattern=HTTPS_URL)

    @model_validator(mode="after")
    def _outputs(self) -> Self:
        if (self.output_asset is None) == (self.output_assets is None):
            raise ValueError("give exactly one of output_asset and output_assets")
        for output in self.outputs():
            if output.type not in CONVERSIONS[self.input_asset.type]:
                raise ValueError(f"cannot make a {output.type} output from a {self.input_asset.type} input")
        return self

    def outputs(self) -> list[OutputAssetIn]:
        return (
            self.output_assets
            if self.output_assets is not None
            else [self.output_asset]
            if self.output_asset
            else []
        )


# ------------------------------------------------------------------ responses


def iso(at: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC with milliseconds."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
