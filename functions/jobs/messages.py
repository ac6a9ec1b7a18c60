"""Output messages, normalized: what the job state machine consumes (no wire models here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from functions.jobs.wire import JsonValue


class MessageType(StrEnum):
    WORKFLOW_SCHEDULED = "WORKFLOW_SCHEDULED"
    WORKFLOW_COMPLETED = "WORKFLOW_COMPLETED"
    WORKFLOW_FAILED = "WORKFLOW_FAILED"
    WORKFLOW_CANCELED = "WORKFLOW_CANCELED"
    ACTIVITY_SCHEDULED = "ACTIVITY_SCHEDULED"
    ACTIVITY_STARTED = "ACTIVITY_STARTED"
    ACTIVITY_PREPARING = "ACTIVITY_PREPARING"
    ACTIVITY_PROGRESS = "ACTIVITY_PROGRESS"
    ACTIVITY_FINISHING = "ACTIVITY_FINISHING"
    ACTIVITY_COMPLETED = "ACTIVITY_COMPLETED"
    ACTIVITY_FAILED = "ACTIVITY_FAILED"
    ACTIVITY_TIMEOUT = "ACTIVITY_TIMEOUT"
    ACTIVITY_CANCELED = "ACTIVITY_CANCELED"
    UNKNOWN = "UNKNOWN"


ACTIVITY_TYPES = frozenset(t for t in MessageType if t.value.startswith("ACTIVITY_"))
WORKFLOW_ENDINGS = frozenset(
    {MessageType.WORKFLOW_COMPLETED, MessageType.WORKFLOW_FAILED, MessageType.WORKFLOW_CANCELED}
)


@dataclass(frozen=True, slots=True)
class ActivityError:
    reason: str
    details: JsonValue = None


def is_swf_cancel(error: ActivityError | None) -> bool:
    """Settled rule 10: an activity's failure that says a cancel was requested in SWF (CT's
    activity prints ``Cancel request`` when SWF refuses its heartbeat for that reason)."""
    return (
        error is not None
        and str(error.reason).upper() == "HEARTBEAT_FAILED"
        and "cancel request" in str(error.details).lower()
    )


@dataclass(frozen=True, slots=True)
class OutputMessage:
    """One output-queue message, normalized: what the job state machine consumes."""

    type: MessageType
    raw_type: str
    time: float
    digest: str
    job_id: str | None = None
    run_id: str | None = None
    workflow_id: str | None = None
    workflow_type: tuple[str | None, str | None] | None = None
    input: dict[str, Any] | None = None
    activity_id: str | None = None
    activity_type: str | None = None
    activity_version: str | None = None
    result: JsonValue = None
    has_result: bool = False
    progress: float | None = None
    progress_detail: dict[str, float] | None = None
    error: ActivityError | None = None

    @property
    def link(self) -> RunLink | None:
        """The link a WORKFLOW_SCHEDULED establishes (None for any other message)."""
        if self.type is MessageType.WORKFLOW_SCHEDULED and self.job_id and self.run_id:
            return RunLink(self.run_id, self.job_id, self.workflow_id)
        return None

    @property
    def run_key(self) -> RunKey | None:
        """How a message that carries no jobId finds its run: by ``runId``, else by ``workflowId``."""
        if self.run_id:
            return RunKey("run", self.run_id)
        if self.workflow_id:
            return RunKey("workflow", self.workflow_id)
        return None


@dataclass(frozen=True, slots=True, order=True)
class RunKey:
    kind: Literal["run", "workflow"]
    value: str


@dataclass(frozen=True, slots=True)
class RunLink:
    """``runId -> jobId`` (and ``workflowId -> jobId, runId``), learnt from WORKFLOW_SCHEDULED."""

    run_id: str
    job_id: str
    workflow_id: str | None = None

    def lookup_keys(self) -> list[RunKey]:
        keys = [RunKey("run", self.run_id)]
        if self.workflow_id:
            keys.append(RunKey("workflow", self.workflow_id))
        return keys
