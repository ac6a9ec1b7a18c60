"""Why an activity failed: CT's reason codes where CT has one, and a few of ours where CT had none.

An :class:`ActivityError` becomes ``ACTIVITY_FAILED`` with ``result = {reason, details}``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from functions.shared.aws import is_transient


class Reason(StrEnum):
    # CT's CpeException references (cpe-protocol.md section 2.3).
    S3_OPS_FAILED = "S3_OPS_FAILED"  # reading the input or writing an output failed
    TRANSCODE_FAIL = "TRANSCODE_FAIL"  # FFmpeg could not decode or encode
    CONVERSION_TYPE_ERROR = "CONVERSION_TYPE_ERROR"  # e.g. IMAGE -> VIDEO
    ACTIVITY_FAILED = "ACTIVITY_FAILED"  # anything else (a defect: details say what)
    # Ours: CT failed these with a generic error or not at all.
    INPUT_NOT_MEDIA = "INPUT_NOT_MEDIA"  # the input is not a file FFmpeg can read
    INPUT_UNREACHABLE = "INPUT_UNREACHABLE"  # missing S3 object, HTTP error, unsafe URL
    INPUT_TOO_LARGE = "INPUT_TOO_LARGE"  # over the stack's limits: bytes, pixels or duration
    INPUT_TOO_SLOW = "INPUT_TOO_SLOW"  # the server did not send it within the download deadline
    INVALID_OUTPUT_SPEC = "INVALID_OUTPUT_SPEC"  # unknown preset, bad size, no destination...
    CUSTOM_CMD_DISABLED = "CUSTOM_CMD_DISABLED"  # custom_cmd sent to a stack that does not allow it
    CANCELED = "CANCELED"  # CANCEL_JOB stopped the run
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"  # the activity did not finish within its time


class ActivityError(Exception):
    def __init__(self, reason: Reason, details: str) -> None:
        super().__init__(f"{reason}: {details}")
        self.reason = reason
        self.details = details

    def as_failure(self) -> dict[str, Any]:
        """``{reason, details}``: the result of ACTIVITY_FAILED, and how the engine keeps a failure."""
        return {"reason": str(self.reason), "details": self.details}


class Canceled(ActivityError):
    def __init__(self, details: str = "the job was canceled") -> None:
        super().__init__(Reason.CANCELED, details)


def error_of(failure: dict[str, Any]) -> ActivityError:
    """A kept failure (:meth:`ActivityError.as_failure`) as the error to report (a cancel as a cancel)."""
    if failure["reason"] == Reason.CANCELED:
        return Canceled(failure["details"])
    return ActivityError(Reason(failure["reason"]), failure["details"])


class TransientError(RuntimeError):
    """Worth another try (AWS throttled, or failed for a moment): the task is delivered again,
    and only when it has failed every attempt does its output fail."""


def aws_failure(error: Exception, reason: Reason, details: str) -> Exception:
    """What to raise for a failed AWS call: a TransientError for throttling, a 5xx or a lost
    connection; otherwise ``reason`` (a missing object, access denied: trying again changes
    nothing)."""
    if is_transient(error):
        return TransientError(f"{details}: {error}")
    return ActivityError(reason, f"{details}: {error}")
