"""The in-memory twin of the DynamoDB store, with the same conditions, for unit tests and local use."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from functions.jobs.errors import JobTooLarge, RunAlreadyLinked, RunClaimed, StaleJob
from functions.jobs.messages import RunKey, RunLink
from functions.jobs.model import Job, Reported
from functions.store.base import (
    IDEMPOTENCY_TTL_SECONDS,
    INLINE_VALUE_LIMIT,
    JOB_ITEM_LIMIT,
    IdempotencyClaim,
    JobPage,
    JobQuery,
    LoadedJob,
    ParkedMessage,
    RunEntry,
    externalize,
    record_bytes,
)
from functions.store.layout import created_key


class MemoryJobStore:
    def __init__(self, inline_limit: int = INLINE_VALUE_LIMIT) -> None:
        self._lock = threading.Lock()
        self._inline_limit = inline_limit
        self.jobs: dict[str, LoadedJob] = {}
        self.entries: dict[RunKey, RunEntry] = {}
        self.parked_messages: dict[RunKey, dict[str, ParkedMessage]] = {}
        self.blobs: dict[tuple[str, str], Reported] = {}
        self.idempotency: dict[str, tuple[IdempotencyClaim, float]] = {}  # the claim, its expiry
        self.writes = 0

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, LoadedJob]:
        with self._lock:
            return {
                job_id: LoadedJob(loaded.job.model_copy(deep=True), loaded.version, loaded.updated_at)
                for job_id in job_ids
                if (loaded := self.jobs.get(job_id)) is not None
            }

    def lookup_runs(self, keys: Collection[RunKey]) -> dict[RunKey, RunEntry]:
        with self._lock:
            return {key: self.entries[key] for key in keys if key in self.entries}

    def park(self, key: RunKey, messages: Sequence[ParkedMessage], now: float) -> None:
        with self._lock:
            entry = self.entries.get(key, RunEntry())
            if entry.link is not None:
                raise RunAlreadyLinked(key.value)
            self.entries[key] = RunEntry(None, entry.parked + 1)
            self.writes += 1
            bucket = self.parked_messages.setdefault(key, {})
            for message in messages:
                bucket[message.digest] = message

    def mark_ambiguous(self, key: RunKey) -> None:
        with self._lock:
            self.entries[key] = replace(self.entries.get(key, RunEntry()), ambiguous=True)
            self.writes += 1

    def parked(self, keys: Collection[RunKey]) -> list[ParkedMessage]:
        with self._lock:
            return [message for key in keys for message in self.parked_messages.get(key, {}).values()]

    def discard_parked(self, messages: Sequence[ParkedMessage]) -> None:
        with self._lock:
            for message in messages:
                bucket = self.parked_messages.get(message.key, {})
                bucket.pop(message.digest, None)
                if not bucket:
                    self.parked_messages.pop(message.key, None)

    def save_job(
        self,
        loaded: LoadedJob,
        job: Job,
        links: Sequence[RunLink],
        parked_seen: Mapping[RunKey, int],
        now: float,
    ) -> LoadedJob:
        stored, blobs = externalize(job, self._inline_limit)
        size = record_bytes(stored)
        if size > JOB_ITEM_LIMIT:
            raise JobTooLarge(job.jobId, size)
        with self._lock:
            current = self.jobs.get(job.jobId)
            if (current.version if current else None) != loaded.version:
                raise StaleJob(job.jobId)
            for link in links:
                for key in link.lookup_keys():
                    entry = self.entries.get(key, RunEntry())
                    if key.kind == "run" and entry.link is not None and entry.link.job_id != link.job_id:
                        raise RunClaimed(key.value, entry.link.job_id)
                    if entry.link is not None or entry.ambiguous or entry.parked != parked_seen.get(key, 0):
                        raise StaleJob(job.jobId)  # linked concurrently, or parked since the caller drained
            for link in links:
                for key in link.lookup_keys():
                    self.entries[key] = RunEntry(link, parked_seen.get(key, 0))
            for name, reported in blobs.items():
                self.blobs[(job.jobId, name)] = reported
            self.writes += 1
            saved = LoadedJob(stored, (loaded.version or 0) + 1, now)
            self.jobs[job.jobId] = saved
            return LoadedJob(stored.model_copy(deep=True), saved.version, now)

    def load_value(self, job_id: str, reported: Reported) -> Reported:
        if reported.held is None:
            return reported
        with self._lock:
            return self.blobs[(job_id, reported.held)].model_copy()

    def delete_job(self, loaded: LoadedJob) -> None:
        with self._lock:
            current = self.jobs.get(loaded.job.jobId)
            if current is None or current.version != loaded.version:
                raise StaleJob(loaded.job.jobId)
            del self.jobs[loaded.job.jobId]

    def claim_idempotency_key(
        self, key_digest: str, claim: IdempotencyClaim, now: float
    ) -> IdempotencyClaim | None:
        with self._lock:
            held = self.idempotency.get(key_digest)
            if held is not None and held[1] >= now:
                return held[0]
            self.idempotency[key_digest] = (claim, now + IDEMPOTENCY_TTL_SECONDS)
            return None

    def release_idempotency_key(self, key_digest: str) -> None:
        with self._lock:
            self.idempotency.pop(key_digest, None)

    def list_jobs(self, query: JobQuery) -> JobPage:
        with self._lock:
            keyed = sorted(
                ((created_key(loaded.job.createdAt, job_id), loaded) for job_id, loaded in self.jobs.items()),
                key=lambda pair: pair[0],
                reverse=True,
            )
        low = created_key(query.created_from, "") if query.created_from is not None else ""
        high = created_key(query.created_to, "") if query.created_to is not None else "~"
        selected = [
            (key, loaded)
            for key, loaded in keyed
            if low <= key < high
            and (query.owner is None or loaded.job.owner == query.owner)
            and (query.status is None or loaded.job.status.value == query.status)
            and (query.after is None or key < query.after)
        ]
        page = selected[: query.limit]
        more = len(selected) > query.limit
        jobs = [
            LoadedJob(loaded.job.model_copy(deep=True), loaded.version, loaded.updated_at)
            for _, loaded in page
        ]
        return JobPage(jobs, page[-1][0] if more else None)
