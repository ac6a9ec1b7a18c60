"""The job record: facts gathered from messages, and the view derived from them.

Every fact merges as a join (max of a status, max of a progress, earliest time of an event, the
earliest report of a value), so applying a job's messages in any order, any number of times, gives
the same facts; the view (status, phase, progress, ...) is a pure function of the facts. That is
what makes the tracker order- and duplicate-proof; ``docs/protocol.md`` lists the rules.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field

from functions.shared.models import Model

JsonValue = Any

MAX_RUNS_PER_JOB = 10
MAX_ACTIVITIES_PER_RUN = 100
MAX_OTHER_TYPES = 32
MAX_OUTPUTS_SHOWN = 50
MAX_STREAMS_SHOWN = 16
ERROR_DETAILS_SHOWN = 1024  # bytes of UTF-8 of an error's details kept on the job item
ERROR_REASON_SHOWN = 256


class JobStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.TIMED_OUT}
)

# Settled rule 2: contradicting terminal reports for one run resolve to the highest of these.
TERMINAL_PRECEDENCE = (JobStatus.COMPLETED, JobStatus.TIMED_OUT, JobStatus.FAILED, JobStatus.CANCELED)


class Phase(StrEnum):
    """What is happening now (the job's ``phase``)."""

    QUEUED = "QUEUED"  # submitted, the engine has not scheduled it yet
    SCHEDULED = "SCHEDULED"  # workflow scheduled, no activity started
    DOWNLOADING = "DOWNLOADING"  # an activity is fetching its input (ACTIVITY_PREPARING)
    VALIDATING = "VALIDATING"  # ValidateAsset is probing the input
    TRANSCODING = "TRANSCODING"  # TranscodeAsset is encoding
    PROCESSING = "PROCESSING"  # another activity (custom plans) is working
    UPLOADING = "UPLOADING"  # an activity is uploading its outputs (ACTIVITY_FINISHING)
    WAITING = "WAITING"  # between steps: no activity is active, the run has not ended
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"


class ActivityStatus(StrEnum):
    """Activity states in the order an activity goes through them; an activity only moves forward.

    The terminal ones follow settled rule 2 (a failure is never hidden by a completion)."""

    SCHEDULED = "SCHEDULED"
    STARTED = "STARTED"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    FINISHING = "FINISHING"
    COMPLETED = "COMPLETED"
    TIMED_OUT = "TIMED_OUT"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def rank(self) -> int:
        return _ACTIVITY_RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self.rank >= _ACTIVITY_RANK[ActivityStatus.COMPLETED]

    @property
    def is_active(self) -> bool:
        return ActivityStatus.STARTED.rank <= self.rank <= ActivityStatus.FINISHING.rank


_ACTIVITY_RANK = {status: rank for rank, status in enumerate(ActivityStatus)}


def iso(at: float | None) -> str | None:
    """Epoch seconds (how the record keeps times) as RFC 3339 UTC with milliseconds."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(text: str) -> float:
    """The epoch seconds of an RFC 3339 time written by :func:`iso` (or any with an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def json_digest(value: JsonValue) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def json_size(value: JsonValue) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


class _State(Model):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class Reported(_State):
    """A JSON value reported by a message. When several messages report one, the earliest report
    wins (ties: smallest digest), so the choice does not depend on arrival order.

    The store may keep a big ``value`` outside the job item: then ``value`` is None and ``held``
    says where it is. ``digest`` and ``size`` always describe the value itself."""

    at: float
    digest: str
    size: int
    value: JsonValue = None
    held: str | None = None

    @classmethod
    def of(cls, value: JsonValue, at: float, digest: str | None = None) -> Reported:
        return cls(at=at, digest=digest or json_digest(value), size=json_size(value), value=value)

    def precedes(self, other: Reported | None) -> bool:
        return other is None or (self.at, self.digest) < (other.at, other.digest)


class ActivityState(_State):
    activityId: str
    activityType: str | None = None
    activityVersion: str | None = None
    status: ActivityStatus = ActivityStatus.SCHEDULED
    reportedProgress: float = 0.0
    progressDetail: dict[str, float] | None = None
    milestones: dict[ActivityStatus, float] = Field(default_factory=dict)
    result: Reported | None = None
    error: Reported | None = None
    # Summaries computed from ``result``/``error`` when they are chosen, so the view never needs
    # a value the store may hold elsewhere.
    probe: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] | None = None
    outputsTotal: int = 0
    errorSummary: dict[str, Any] | None = None

    @property
    def completed(self) -> bool:
        return ActivityStatus.COMPLETED in self.milestones

    @property
    def progress(self) -> int:
        """0-100; 100 only once the activity reported completion (CT reports up to 101 while busy)."""
        return 100 if self.completed else min(99, max(0, int(self.reportedProgress)))

    @property
    def startedAt(self) -> float | None:
        times = [at for status, at in self.milestones.items() if status is not ActivityStatus.SCHEDULED]
        return min(times) if times else None

    @property
    def finishedAt(self) -> float | None:
        times = [at for status, at in self.milestones.items() if status.is_terminal]
        return min(times) if times else None


class RunState(_State):
    runId: str
    workflowId: str | None = None
    workflowType: dict[str, str | None] | None = None
    scheduledAt: float
    scheduledDigest: str
    outputCount: int = 0
    workflowReports: dict[str, float] = Field(default_factory=dict)
    workflowError: dict[str, Any] | None = None  # the reason a WORKFLOW_FAILED gave, if any
    cancelRequestedAt: float | None = None  # a cancel requested in SWF (settled rule 10)
    activities: dict[str, ActivityState] = Field(default_factory=dict)
    otherTypes: dict[str, float] = Field(default_factory=dict)


class Stall(_State):
    """The watchdog's finding that nothing was heard of a job for ``silentSeconds``, at ``at``."""

    at: float
    silentSeconds: int


class RunView(_State):
    """What a run amounts to under the completion rule (derived, never stored on its own)."""

    runId: str
    status: JobStatus
    phase: Phase
    progress: int
    completionEvidence: bool
    endedAt: float | None = None
    error: dict[str, Any] | None = None


class Job(_State):
    """A job: the facts, plus the view the last :func:`~functions.jobs.machine.derive` computed."""

    jobId: str
    submittedAt: float | None = None
    payload: Reported | None = None
    payloadSource: Literal["api", "workflow"] | None = None
    payloadRunId: str | None = None
    outputsSpec: list[dict[str, Any]] = Field(default_factory=list)
    clientName: str | None = None
    # Who the job belongs to (design section 8): the caller that submitted it; for a job made from
    # a WORKFLOW_SCHEDULED, the owner its client name maps to; None: the operators' alone.
    owner: str | None = None
    # Facts the API records (the tracker keeps them as they are).
    requestDigest: str | None = None  # of the submitted request, for idempotent replays
    dispatchedAt: float | None = None  # when START_JOB was sent
    callbackUrl: str | None = None
    metadata: dict[str, Any] | None = None  # the caller's own, as submitted (never sent to CPE)
    cancelRequested: bool = False
    cancelRequestedAt: float | None = None
    stall: Stall | None = None  # recorded by the watchdog: the job is TIMED_OUT unless a run completes
    runs: dict[str, RunState] = Field(default_factory=dict)
    otherTypes: dict[str, float] = Field(default_factory=dict)

    # The view (derived from the facts above).
    status: JobStatus = JobStatus.SUBMITTED
    phase: Phase = Phase.QUEUED
    progress: int = 0
    createdAt: float = 0.0
    lastEventAt: float | None = None  # when the latest state reached was first reported
    runId: str | None = None
    workflowId: str | None = None
    workflowType: dict[str, str | None] | None = None
    probe: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    runViews: list[RunView] = Field(default_factory=list)


class TimelineEvent(_State):
    at: float
    event: str
    runId: str | None = None
    activityId: str | None = None
    activityType: str | None = None
