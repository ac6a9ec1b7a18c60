"""The store's interface and the parts both implementations share. No AWS imports here."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from functions.jobs.messages import RunKey, RunLink
from functions.jobs.model import Job, Reported

INLINE_VALUE_LIMIT = 4096
"""Reported values (results, error details, payloads) bigger than this, in bytes of JSON, are kept
outside the job item so that the item stays small (DynamoDB bills writes per KB and stops at 400 KB)."""

JOB_ITEM_LIMIT = 350_000
"""Refuse to write a job item bigger than this, in bytes (DynamoDB's hard limit is 400 KB; the
other attributes of the item take a few hundred bytes)."""

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
"""How long an ``Idempotency-Key`` replays its first answer; an older claim counts as free."""


@dataclass(frozen=True)
class TableBinding:
    """Where the jobs table is (settings read it; the store binds its records to it)."""

    table_name: str
    region: str | None = None
    host: str | None = None  # an endpoint URL (moto server); None for AWS


@dataclass(frozen=True, slots=True)
class LoadedJob:
    """A job as stored: ``version`` is the optimistic-locking token (None: not stored yet)."""

    job: Job
    version: int | None
    updated_at: float | None = None


@dataclass(frozen=True, slots=True)
class RunEntry:
    """What the store knows of a run key: its link, once WORKFLOW_SCHEDULED was applied, its
    parking version, bumped every time messages are parked against the key (0: never), and (for a
    workflowId) whether it names more than one run, so routes nothing (settled rule 11)."""

    link: RunLink | None = None
    parked: int = 0
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """Who holds an ``Idempotency-Key``: the job it created and the digest of that request."""

    job_id: str
    request_digest: str


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Jobs newest first, optionally of one owner (None: everyone's), of one status and created
    within [created_from, created_to). A page holds up to ``limit`` jobs; one owner's jobs of one
    status may come in shorter pages (the store examines a bounded number of that owner's jobs per
    page), never with a job left out."""

    limit: int
    owner: str | None = None
    status: str | None = None
    created_from: float | None = None
    created_to: float | None = None
    after: str | None = None  # the position returned by the previous page


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[LoadedJob]
    after: str | None  # where the next page starts; None: this was the last page


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A message for a run whose WORKFLOW_SCHEDULED has not arrived yet, kept as received."""

    key: RunKey
    digest: str
    body: str
    sent_at: float
    message_id: str


class JobStore(Protocol):
    """What the tracker needs from storage. Every read is strongly consistent."""

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, LoadedJob]:
        """The stored jobs among ``job_ids`` (missing ones are absent from the result)."""
        ...

    def lookup_runs(self, keys: Collection[RunKey]) -> dict[RunKey, RunEntry]:
        """What is known of ``keys`` (unknown keys are absent from the result)."""
        ...

    def park(self, key: RunKey, messages: Sequence[ParkedMessage], now: float) -> None:
        """Keep ``messages`` until the run is linked, and bump the key's parking version.
        Raises ``RunAlreadyLinked`` if the run is linked already."""
        ...

    def mark_ambiguous(self, key: RunKey) -> None:
        """Record that a workflowId names more than one run: it routes no message from now on."""
        ...

    def parked(self, keys: Collection[RunKey]) -> list[ParkedMessage]:
        """The messages parked under ``keys``."""
        ...

    def discard_parked(self, messages: Sequence[ParkedMessage]) -> None:
        """Forget parked messages once they are applied."""
        ...

    def save_job(
        self,
        loaded: LoadedJob,
        job: Job,
        links: Sequence[RunLink],
        parked_seen: Mapping[RunKey, int],
        now: float,
    ) -> LoadedJob:
        """Write ``job`` if the stored version is still ``loaded.version`` and, atomically with it,
        link its new runs if they are not linked and their keys' parking versions are still
        ``parked_seen`` (0 when absent).

        Raises ``StaleJob`` if the job changed, messages were parked since, or a workflowId was
        linked to another run meanwhile; ``RunClaimed`` if a runId belongs to another job. Returns
        the job as stored (big values held outside the item)."""
        ...

    def load_value(self, job_id: str, reported: Reported) -> Reported:
        """``reported`` with its value, fetched from where the store holds it if need be."""
        ...

    def delete_job(self, loaded: LoadedJob) -> None:
        """Remove a job that was never dispatched. Raises ``StaleJob`` if it changed since."""
        ...

    def claim_idempotency_key(
        self, key_digest: str, claim: IdempotencyClaim, now: float
    ) -> IdempotencyClaim | None:
        """Claim ``key_digest`` for ``claim``; returns None, or the claim that holds it already."""
        ...

    def release_idempotency_key(self, key_digest: str) -> None:
        """Forget a claim whose request failed before anything was sent."""
        ...

    def list_jobs(self, query: JobQuery) -> JobPage:
        """A page of jobs, read through an index (never a scan); every job read consistently."""
        ...


def blob_name(*path: str) -> str:
    """A key-safe, fixed-length name for a held value (run ids contain '/' and '=')."""
    return hashlib.sha256("\x1f".join(path).encode()).hexdigest()[:32]


def held_values(job: Job) -> Iterator[tuple[str, Reported]]:
    """Every reported value of ``job`` with the name the store keeps it under."""
    if job.payload is not None:
        yield blob_name("payload"), job.payload
    for run in job.runs.values():
        for activity in run.activities.values():
            if activity.result is not None:
                yield blob_name(run.runId, activity.activityId, "result"), activity.result
            if activity.error is not None:
                yield blob_name(run.runId, activity.activityId, "error"), activity.error


def record_bytes(stored: Job) -> int:
    """Bytes of the job's record on its item (UTF-8, as DynamoDB counts them)."""
    return len(stored.model_dump_json().encode())


def externalize(job: Job, limit: int = INLINE_VALUE_LIMIT) -> tuple[Job, dict[str, Reported]]:
    """Split ``job`` into the item to store and the big values to store beside it.

    Values already held elsewhere stay held; a new big value is returned under its name."""
    stored = job.model_copy(deep=True)
    blobs: dict[str, Reported] = {}
    for name, reported in held_values(stored):
        if reported.held is None and reported.size > limit:
            blobs[name] = reported.model_copy()
            reported.value, reported.held = None, name
    return stored, blobs
