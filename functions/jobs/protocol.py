"""The CPE/CT wire format of output messages (stack -> client): pydantic models for every shape,
and the tolerant parser that turns any output-queue body into one :class:`OutputMessage` or raises
:class:`~functions.jobs.errors.PoisonMessage` with a reason code.

Shapes and field names follow the original PHP/Python code (see ``docs/protocol.md``). Models accept
extra fields (the protocol grew over time and stacks add their own), and PHP's ``[]`` where an
object is expected reads as ``{}``. Commands (START_JOB, CANCEL_JOB) live in
:mod:`functions.jobs.commands`; the normalized messages in :mod:`functions.jobs.messages`.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError

from functions.jobs import jsontext
from functions.jobs.errors import PoisonMessage, PoisonReason
from functions.jobs.messages import (
    ACTIVITY_TYPES,
    WORKFLOW_ENDINGS,
    ActivityError,
    MessageType,
    OutputMessage,
    RunKey,
    RunLink,
)
from functions.jobs.wire import JsonValue, LenientObject, Open
from functions.jobs.wire import php_array_as_object as _php_array_as_object

__all__ = [
    "ACTIVITY_TYPES",
    "ActivityError",
    "JsonValue",
    "MessageType",
    "OutputMessage",
    "RunKey",
    "RunLink",
    "activity_message",
    "parse_output_message",
    "workflow_ended",
    "workflow_scheduled",
]


class WorkflowTypeRef(Open):
    name: str | None = None
    version: str | None = None


class WorkflowExecution(Open):
    """``data.workflow`` of every message after WORKFLOW_SCHEDULED: SWF's execution ids."""

    workflowId: str | None = None
    runId: str | None = None


class ActivityTypeRef(Open):
    name: str | None = None
    version: str | None = None


class ActivityBody(Open):
    """``data.activity``. PHP sends ``activityType`` as ``{name, version}``; the Decider sends a
    string plus ``activityVersion``. Before SDK 394c7b8, ``reason``/``details``/``progress`` were
    merged here instead of sitting under ``result``; they arrive as extra fields."""

    activityId: str | None = None
    activityType: ActivityTypeRef | str | None = None
    activityVersion: str | None = None
    input: JsonValue = None
    result: JsonValue = None


class ActivityData(Open):
    workflow: Annotated[WorkflowExecution, BeforeValidator(_php_array_as_object)] = Field(
        default_factory=WorkflowExecution
    )
    activity: Annotated[ActivityBody, BeforeValidator(_php_array_as_object)] = Field(
        default_factory=ActivityBody
    )


class WorkflowData(Open):
    workflow: Annotated[WorkflowExecution, BeforeValidator(_php_array_as_object)] = Field(
        default_factory=WorkflowExecution
    )
    # Not in CPE (its Decider never says why a workflow failed); this project's engine sends them.
    reason: str | None = None
    details: JsonValue = None


class _Message(Open):
    time: float | None = None
    type: str


class ActivityMessage(_Message):
    data: Annotated[ActivityData, BeforeValidator(_php_array_as_object)] = Field(default_factory=ActivityData)


class WorkflowScheduledMessage(_Message):
    """Sent by the InputPoller: the only message with ``jobId`` *and* ``runId`` (top level, no ``data``)."""

    jobId: str = Field(min_length=1)
    runId: str | None = None
    workflowId: str | None = None
    workflowType: Annotated[WorkflowTypeRef, BeforeValidator(_php_array_as_object)] | None = None
    input: LenientObject = Field(default_factory=dict)


class WorkflowEndedMessage(_Message):
    """WORKFLOW_COMPLETED / WORKFLOW_FAILED from the Decider (no reason is ever given)."""

    data: Annotated[WorkflowData, BeforeValidator(_php_array_as_object)] = Field(default_factory=WorkflowData)


class OtherMessage(_Message):
    """Any other type: kept if it names a job or a run, so it can be recorded."""

    jobId: str | None = None
    job_id: str | None = None
    runId: str | None = None
    workflowId: str | None = None
    data: LenientObject = Field(default_factory=dict)


# --------------------------------------------------------------------------- parsing


# CT's messages nest 6 levels at most (a probe result in an activity's result); a record nests them
# a few levels deeper, well within what the serializers take.
MAX_NESTING = 32
LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def _loads(text: str) -> Any:
    try:
        document = jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise PoisonMessage(PoisonReason.NOT_JSON, f"body is not JSON: {exc.msg} at {exc.pos}") from exc
    except jsontext.NonFiniteNumber as exc:
        raise PoisonMessage(PoisonReason.NON_FINITE_NUMBER, str(exc)) from exc
    except jsontext.TooDeep as exc:
        raise PoisonMessage(PoisonReason.NOT_JSON, str(exc)) from exc
    if _deeper_than(document, MAX_NESTING):
        # Kept whole in the job record, it could never be serialized (nor read by a client).
        raise PoisonMessage(PoisonReason.LIMIT_EXCEEDED, f"JSON nested deeper than {MAX_NESTING} levels")
    return document


def _deeper_than(value: Any, limit: int) -> bool:
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, dict | list) for node in level)


def _unwrap_sns(document: dict[str, Any]) -> dict[str, Any]:
    """SNS to SQS without raw delivery wraps the message in a notification envelope."""
    if (
        document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
        and "TopicArn" in document
    ):
        inner = _loads(document["Message"].removeprefix("\ufeff"))
        if not isinstance(inner, dict):
            raise PoisonMessage(PoisonReason.NOT_AN_OBJECT, "SNS message is not a JSON object")
        return inner
    return document


def _as_number(value: Any) -> float | None:
    """A finite, non-negative number, or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # an int too big for a float: none
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _as_time(value: Any) -> float | None:
    """Epoch seconds, or None: past 9999-12-31 (milliseconds sent as seconds, say) is no time, as
    the record's times must be writable as RFC 3339 dates."""
    number = _as_number(value)
    return number if number is not None and number <= LATEST_TIME else None


def _as_progress(value: Any) -> float | None:
    number = _as_number(value)
    return None if number is None else min(number, 100.0)


def _digest(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]
    except UnicodeEncodeError as exc:
        # JSON lets "\ud800" through, but no store or consumer can hold half a character.
        raise PoisonMessage(PoisonReason.NOT_JSON, "a string holds an unpaired UTF-16 surrogate") from exc


def _message_type(raw: Any) -> MessageType:
    try:
        return MessageType(str(raw).strip().upper())
    except ValueError:
        return MessageType.UNKNOWN


def parse_output_message(body: str | bytes, fallback_time: float) -> OutputMessage:
    """Parse one output-queue body (tolerant: see settled rule 7 in ``docs/protocol.md``).

    ``fallback_time`` (the SQS SentTimestamp, in seconds) stands in for a missing ``time``.
    Raises :class:`PoisonMessage` when the body can never be applied.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PoisonMessage(PoisonReason.NOT_JSON, "body is not UTF-8") from exc
    document = _loads(body.removeprefix("\ufeff"))
    if not isinstance(document, dict):
        raise PoisonMessage(
            PoisonReason.NOT_AN_OBJECT, f"body is a JSON {type(document).__name__}, not an object"
        )
    document = _unwrap_sns(document)
    raw_type = document.get("type")
    if not isinstance(raw_type, str) or not raw_type.strip():
        raise PoisonMessage(PoisonReason.NO_TYPE, "message has no usable 'type'")
    kind = _message_type(raw_type)
    time = _as_time(document.get("time"))
    time = fallback_time if time is None else time
    # The digest identifies the fact: the same message delivered twice shares it; two messages that
    # differ only in when they were sent (no ``time``, different SentTimestamp) do not.
    normalized = {
        **document,
        "type": kind.value if kind is not MessageType.UNKNOWN else raw_type,
        "time": time,
    }
    common: dict[str, Any] = {"type": kind, "raw_type": raw_type, "time": time, "digest": _digest(normalized)}
    try:
        if kind is MessageType.WORKFLOW_SCHEDULED:
            message = _from_scheduled(WorkflowScheduledMessage.model_validate(document), common)
        elif kind in WORKFLOW_ENDINGS:
            ended = WorkflowEndedMessage.model_validate(document).data
            error = ActivityError(ended.reason, ended.details) if ended.reason else None
            message = OutputMessage(
                **common, run_id=ended.workflow.runId, workflow_id=ended.workflow.workflowId, error=error
            )
        elif kind in ACTIVITY_TYPES:
            message = _from_activity(kind, ActivityMessage.model_validate(document), common)
        else:
            message = _from_other(OtherMessage.model_validate(document), common)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise PoisonMessage(PoisonReason.INVALID_SHAPE, f"{kind.value}: {where}: {first['msg']}") from exc
    if message.job_id is None and message.run_key is None:
        raise PoisonMessage(PoisonReason.NO_IDENTIFIER, f"{raw_type} carries no jobId, runId or workflowId")
    return message


def _from_scheduled(model: WorkflowScheduledMessage, common: dict[str, Any]) -> OutputMessage:
    if not model.runId:
        # Every later message names the run by runId: without it the run could never be followed.
        raise PoisonMessage(PoisonReason.NO_IDENTIFIER, "WORKFLOW_SCHEDULED carries no runId")
    workflow_type = (model.workflowType.name, model.workflowType.version) if model.workflowType else None
    return OutputMessage(
        **common,
        job_id=model.jobId,
        run_id=model.runId,
        workflow_id=model.workflowId or None,
        workflow_type=workflow_type,
        input=model.input,
    )


_LEGACY_RESULT_KEYS = ("reason", "details", "progress", "duration", "done")


def _from_activity(kind: MessageType, model: ActivityMessage, common: dict[str, Any]) -> OutputMessage:
    activity = model.data.activity
    if isinstance(activity.activityType, ActivityTypeRef):
        type_name, type_version = activity.activityType.name, activity.activityType.version
    else:
        type_name, type_version = activity.activityType, None
    type_version = type_version or activity.activityVersion
    activity_id = activity.activityId or type_name
    if not activity_id:
        raise PoisonMessage(PoisonReason.INVALID_SHAPE, f"{kind.value} names no activityId or activityType")

    fields_set = activity.model_fields_set
    result, has_result = activity.result, "result" in fields_set
    extras = activity.model_extra or {}
    if not has_result and any(key in extras for key in _LEGACY_RESULT_KEYS):
        # Pre-394c7b8 SDK: extra keys were merged into data.activity.
        result, has_result = {key: extras[key] for key in _LEGACY_RESULT_KEYS if key in extras}, True

    progress = detail = None
    error = None
    if kind is MessageType.ACTIVITY_PROGRESS and isinstance(result, dict):
        progress = _as_progress(result.get("progress"))
        numbers = {key: _as_number(result.get(key)) for key in ("duration", "done")}
        detail = {key: value for key, value in numbers.items() if value is not None} or None
    elif kind in (MessageType.ACTIVITY_FAILED, MessageType.ACTIVITY_TIMEOUT, MessageType.ACTIVITY_CANCELED):
        reason = result.get("reason") if isinstance(result, dict) else None
        details = result.get("details") if isinstance(result, dict) else result
        default_reason = {
            MessageType.ACTIVITY_FAILED: "ACTIVITY_FAILED",
            MessageType.ACTIVITY_TIMEOUT: "ACTIVITY_TIMEOUT",
        }.get(kind, "ACTIVITY_CANCELED")
        error = ActivityError(reason=str(reason) if reason else default_reason, details=details)

    execution = model.data.workflow
    return OutputMessage(
        **common,
        run_id=execution.runId or None,
        workflow_id=execution.workflowId or None,
        activity_id=activity_id,
        activity_type=type_name,
        activity_version=type_version,
        result=result if kind is MessageType.ACTIVITY_COMPLETED else None,
        has_result=has_result and kind is MessageType.ACTIVITY_COMPLETED,
        progress=progress,
        progress_detail=detail,
        error=error,
    )


def _from_other(model: OtherMessage, common: dict[str, Any]) -> OutputMessage:
    execution = model.data.get("workflow") if isinstance(model.data.get("workflow"), dict) else {}
    run_id = model.runId or (execution or {}).get("runId")
    workflow_id = model.workflowId or (execution or {}).get("workflowId")
    return OutputMessage(
        **common,
        job_id=model.jobId or model.job_id,
        run_id=run_id if isinstance(run_id, str) and run_id else None,
        workflow_id=workflow_id if isinstance(workflow_id, str) and workflow_id else None,
    )


# ------------------------------------------------------------------- building messages (engines, tests)


def workflow_scheduled(
    *,
    job_id: str,
    run_id: str,
    workflow_id: str,
    input: dict[str, Any],
    time: float,
    workflow_type: tuple[str, str] = ("Transcode", "1.0"),
) -> dict[str, Any]:
    """A WORKFLOW_SCHEDULED body as the InputPoller sends it."""
    return {
        "time": time,
        "type": MessageType.WORKFLOW_SCHEDULED.value,
        "jobId": job_id,
        "runId": run_id,
        "workflowId": workflow_id,
        "workflowType": {"name": workflow_type[0], "version": workflow_type[1]},
        "input": input,
    }


def activity_message(
    kind: MessageType,
    *,
    run_id: str,
    workflow_id: str,
    activity_id: str,
    activity_type: str,
    activity_version: str = "v2",
    time: float,
    input: JsonValue = None,
    result: JsonValue = None,
    decider_style: bool = False,
) -> dict[str, Any]:
    """An ACTIVITY_* body: PHP style (``activityType`` object) or Decider style (string + version)."""
    activity: dict[str, Any] = {"activityId": activity_id}
    if decider_style:
        activity.update(activityType=activity_type, activityVersion=activity_version)
    else:
        activity["activityType"] = {"name": activity_type, "version": activity_version}
    if input is not None:
        activity["input"] = input
    if result is not None:
        activity["result"] = result
    return {
        "time": time,
        "type": kind.value,
        "data": {"workflow": {"workflowId": workflow_id, "runId": run_id}, "activity": activity},
    }


def workflow_ended(kind: MessageType, *, run_id: str, workflow_id: str, time: float) -> dict[str, Any]:
    """A WORKFLOW_COMPLETED / WORKFLOW_FAILED body as the Decider sends it."""
    return {
        "time": time,
        "type": kind.value,
        "data": {"workflow": {"workflowId": workflow_id, "runId": run_id}},
    }
