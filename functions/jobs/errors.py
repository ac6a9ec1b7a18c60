"""Domain errors. The data layer raises these (``from`` the storage error); handlers map them."""

from __future__ import annotations

from enum import StrEnum


class PoisonReason(StrEnum):
    """Why a queue message can never be applied (it fails alone and ends in the DLQ)."""

    NOT_JSON = "NOT_JSON"
    NON_FINITE_NUMBER = "NON_FINITE_NUMBER"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    NO_TYPE = "NO_TYPE"
    NO_IDENTIFIER = "NO_IDENTIFIER"
    INVALID_SHAPE = "INVALID_SHAPE"
    RUN_CLAIMED = "RUN_CLAIMED"
    AMBIGUOUS_WORKFLOW = "AMBIGUOUS_WORKFLOW"  # only a workflowId, which names several runs
    UNKNOWN_JOB = "UNKNOWN_JOB"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class DomainError(Exception):
    """Base of every error the domain and the data layer raise on purpose."""


class PoisonMessage(DomainError):
    def __init__(self, reason: PoisonReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class StaleJob(DomainError):
    """The job changed since it was read (conditional write failed): re-read and re-apply."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} changed concurrently")
        self.job_id = job_id


class RunClaimed(DomainError):
    """A runId (or workflowId) is already linked to another job."""

    def __init__(self, run_id: str, job_id: str) -> None:
        super().__init__(f"run {run_id} already belongs to job {job_id}")
        self.run_id = run_id
        self.job_id = job_id


class UnknownRun(DomainError):
    """A message was attributed to a run its job does not have (apply WORKFLOW_SCHEDULED first)."""


class RunAlreadyLinked(DomainError):
    """Parking lost a race: the run became known while the message was being parked."""


class JobTooLarge(DomainError):
    """The job record would exceed the item limit; its messages cannot be applied."""

    def __init__(self, job_id: str, size: int) -> None:
        super().__init__(f"job {job_id} would take {size} bytes, over the item limit")
        self.job_id = job_id


class DependencyUnavailable(DomainError):
    """A service the function depends on could not be reached, or throttled us beyond the SDK's
    retries (``throttled``: it asked us to slow down). Retryable."""

    def __init__(self, detail: str, *, throttled: bool = False) -> None:
        super().__init__(detail)
        self.throttled = throttled


class StorageUnavailable(DependencyUnavailable):
    """The store could not be reached or throttled us beyond the SDK's retries."""
