"""The CT job payload (``START_JOB``'s ``data`` minus the injected ``client``): one schema, two views.

* The **tolerant** view (:class:`JobPayload` and its parts) reads what is on the wire: unknown
  fields are kept, values are not constrained. The tracker reads jobs it did not submit with it,
  and the engine reads its task inputs with it.
* The **strict** view (:class:`StrictJobPayload` and its parts, ``...In``) is what the API accepts:
  unknown fields, wrong types, NaN and out-of-range values are refused with a 400 naming the field,
  and CT's type conversions are checked up front instead of failing in the stack.

Both views name the same fields (tests/unit/test_payload.py pins them to each other); field names
and meanings follow the CT docs (docs/protocol.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from functions.jobs.names import (
    BUCKET_PATTERN,
    HTTP_URL,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    MAX_URL_LENGTH,
    check_bucket,
    check_key,
)
from functions.jobs.wire import Open
from functions.shared.models import Model

MAX_OUTPUTS = 20
InputType = Literal["VIDEO", "IMAGE", "AUDIO"]
# ADAPTIVE and STORYBOARD are this project's extension of CT's output types (docs/protocol.md).
OutputType = Literal["VIDEO", "THUMB", "IMAGE", "AUDIO", "ADAPTIVE", "STORYBOARD"]
# CT's allowed conversions (TranscodeAssetActivity::validate_input, plus AUDIO from VIDEO, which CT
# declared but never implemented, and the extension's types); anything else is
# CONVERSION_TYPE_ERROR.
# The extension's outputs name their main file: the master playlist, the WebVTT track.
MAIN_SUFFIXES = {"ADAPTIVE": ".m3u8", "STORYBOARD": ".vtt"}
CONVERSIONS: dict[str, frozenset[str]] = {
    "VIDEO": frozenset({"VIDEO", "THUMB", "AUDIO", "ADAPTIVE", "STORYBOARD"}),
    "IMAGE": frozenset({"IMAGE"}),
    "AUDIO": frozenset({"AUDIO"}),
}


# ------------------------------------------------------------------ the tolerant view


class WorkflowSpec(Open):
    """``data.workflow``: the SWF workflow the CPE InputPoller starts."""

    name: str
    version: str
    taskList: str
    domain: str
    executionStartToCloseTimeout: int | None = None


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


class LadderRung(Open):
    """A rung of an ADAPTIVE output's explicit ladder: its picture's short side, its bitrate."""

    height: int
    video_bitrate: str | None = None


class OutputAsset(Open):
    """One output (``output_asset`` or an item of ``output_assets``); fields per the CT docs, and
    the extension's (``ladder``, ``packaging``, ``columns``)."""

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
    resize: str | None = None
    quality: int | None = None
    crop: str | None = None
    thumbnail: str | None = None
    ladder: list[LadderRung] | None = None
    packaging: str | None = None
    columns: int | None = None


class JobPayload(Open):
    """The CT job as the wire carries it."""

    workflow: WorkflowSpec | None = None
    input_asset: InputAsset
    output_asset: OutputAsset | None = None
    output_assets: list[OutputAsset] | None = None

    def outputs(self) -> list[OutputAsset]:
        if self.output_assets is not None:
            return list(self.output_assets)
        return [self.output_asset] if self.output_asset is not None else []


def count_outputs(payload: Any) -> int:
    """Number of outputs a job payload asks for (``output_assets`` list or one ``output_asset``)."""
    if not isinstance(payload, dict):
        return 0
    outputs = payload.get("output_assets")
    if isinstance(outputs, list):
        return len(outputs)
    return 1 if isinstance(payload.get("output_asset"), dict) else 0


# ------------------------------------------------------------------ the strict view


def _given(field: str) -> dict[str, Any]:
    """JSON Schema: ``field`` is present and not null."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _absent(*fields: str) -> dict[str, Any]:
    """JSON Schema: none of ``fields`` is present (or they are null)."""
    return {"allOf": [{"not": _given(field)} for field in fields]}


def _types(*types: str) -> dict[str, Any]:
    return {"properties": {"type": {"enum": list(types)}}}


class Strict(Model):
    # strict: no coercion ("5" is not 5), so the request as sent is what START_JOB carries.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


Bucket = Annotated[
    str,
    Field(min_length=3, max_length=63, pattern=BUCKET_PATTERN, description="S3 bucket"),
    AfterValidator(check_bucket),
]
Key = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="S3 key (S3 takes up to 1,024 bytes)",
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
Size = Annotated[str, Field(max_length=16, pattern=r"^(-1|-2|[0-9]{1,5})[x:](-1|-2|[0-9]{1,5})$")]
Bitrate = Annotated[str, Field(max_length=10, pattern=r"^[0-9]{1,6}[kKmM]?$")]


class WorkflowIn(Strict):
    """``data.workflow``: the SWF workflow the CPE InputPoller starts (defaults: the stack's)."""

    name: Token
    version: Token
    taskList: Token
    domain: Token
    executionStartToCloseTimeout: Timeout | None = None


class InputAssetIn(Strict):
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

    type: InputType
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


class WatermarkIn(Strict):
    bucket: Bucket
    file: Key
    size: Size | None = None
    opacity: float | None = Field(default=None, ge=0, le=1)
    x: Offset | None = None
    y: Offset | None = None


class LadderRungIn(Strict):
    height: Annotated[int, Field(ge=64, le=2160), BeforeValidator(_integral)]
    video_bitrate: Bitrate | None = None


def _file_ends(kind: str, pattern: str) -> dict[str, Any]:
    """JSON Schema: an output of ``kind`` has a ``file`` matching ``pattern``."""
    return {"anyOf": [{"not": _types(kind)}, {"properties": {"file": {"pattern": pattern}}}]}


class OutputAssetIn(Strict):
    """One output, with CT's fields (docs/protocol.md). ``custom_cmd`` is refused unless the stack
    enables it."""

    # The main-file rule of StrictJobPayload._outputs (MAIN_SUFFIXES), stated in the schema too.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [_file_ends("ADAPTIVE", r"\.[mM]3[uU]8$"), _file_ends("STORYBOARD", r"\.[vV][tT][tT]$")]
        }
    )

    type: OutputType
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
    resize: str | None = Field(default=None, max_length=32, pattern=r"^[0-9]{1,5}(x[0-9]{1,5})?[%!<>^]?$")
    quality: Quality | None = None
    crop: str | None = Field(
        default=None, max_length=32, pattern=r"^[0-9]{1,5}x[0-9]{1,5}([+-][0-9]{1,5}){2}$"
    )
    thumbnail: str | None = Field(default=None, max_length=32, pattern=r"^[0-9]{1,5}(x[0-9]{1,5})?$")
    ladder: list[LadderRungIn] | None = Field(default=None, min_length=1, max_length=8)
    packaging: Literal["cmaf", "ts"] | None = None
    columns: Annotated[int, Field(ge=1, le=20), BeforeValidator(_integral)] | None = None


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


# The rules of StrictJobPayload._outputs, stated in its schema too (and in a subclass's, which must
# repeat them: a subclass's json_schema_extra replaces its parent's).
JOB_SCHEMA_RULES: dict[str, Any] = {
    "oneOf": [
        {"allOf": [_given("output_asset"), _absent("output_assets")]},
        {"allOf": [_given("output_assets"), _absent("output_asset")]},
    ],
    "allOf": [_when_input(kind, _outputs_of(*sorted(allowed))) for kind, allowed in CONVERSIONS.items()],
}


class StrictJobPayload(Strict):
    """The CT job as the API accepts it."""

    model_config = ConfigDict(json_schema_extra=JOB_SCHEMA_RULES)

    workflow: WorkflowIn | None = None
    input_asset: InputAssetIn
    output_asset: OutputAssetIn | None = None
    output_assets: list[OutputAssetIn] | None = Field(default=None, min_length=1, max_length=MAX_OUTPUTS)

    @model_validator(mode="after")
    def _outputs(self) -> Self:
        if (self.output_asset is None) == (self.output_assets is None):
            raise ValueError("give exactly one of output_asset and output_assets")
        destinations = set()
        for output in self.outputs():
            if output.type not in CONVERSIONS[self.input_asset.type]:
                raise ValueError(f"cannot make a {output.type} output from a {self.input_asset.type} input")
            wanted = MAIN_SUFFIXES.get(output.type)
            if wanted and not output.file.lower().endswith(wanted):
                raise ValueError(f"an {output.type} output's file ends in {wanted}")
            if (output.bucket, output.file) in destinations:
                raise ValueError(f"two outputs write {output.file}")
            destinations.add((output.bucket, output.file))
        return self

    def outputs(self) -> list[OutputAssetIn]:
        if self.output_assets is not None:
            return self.output_assets
        return [self.output_asset] if self.output_asset is not None else []


# Each strict part and the tolerant part it is a view of (tests/unit/test_payload.py).
VIEWS: tuple[tuple[type[BaseModel], type[BaseModel]], ...] = (
    (StrictJobPayload, JobPayload),
    (WorkflowIn, WorkflowSpec),
    (InputAssetIn, InputAsset),
    (OutputAssetIn, OutputAsset),
    (WatermarkIn, Watermark),
    (LadderRungIn, LadderRung),
)
