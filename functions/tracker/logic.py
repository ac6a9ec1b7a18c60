"""Apply a batch of output-queue messages to the jobs they belong to.

One pass per batch: parse every message, attribute each to its job (WORKFLOW_SCHEDULED messages of
the batch first, then the stored run links, one consistent batch read), park the messages of runs
not known yet, then for each job read it once, apply all its messages, and write it once if it
changed (a conditional write; on a conflict, re-read and re-apply). A message that can never apply
fails alone; the rest of the batch goes on.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from functions.jobs.errors import (
    JobTooLarge,
    PoisonMessage,
    PoisonReason,
    RunAlreadyLinked,
    RunClaimed,
    StaleJob,
    StorageUnavailable,
    UnknownRun,
)
from functions.jobs.machine import apply, derive, new_job
from functions.jobs.model import Job
from functions.jobs.protocol import MessageType, OutputMessage, RunKey, RunLink, parse_output_message
from functions.jobs.rules import CompletionRule
from functions.store.base import JobStore, LoadedJob, ParkedMessage

MAX_ATTEMPTS = 6
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A queue message as the tracker sees it, whatever the transport."""

    message_id: str
    body: str
    sent_at: float  # seconds since the epoch (SQS SentTimestamp)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a message was not applied. ``retryable`` failures may succeed on redelivery; the
    others are poison and will end in the DLQ after the queue's max receives."""

    reason: str
    detail: str
    retryable: bool


@dataclass
class BatchReport:
    failures: dict[str, Failure] = field(default_factory=dict)
    applied: int = 0
    parked: int = 0
    drained: int = 0
    job_writes: int = 0
    unchanged_jobs: int = 0
    conflicts: int = 0
    unknown_types: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def fail(self, message_id: str, failure: Failure) -> None:
        self.failures[message_id] = failure
        if not failure.retryable:
            self.rejected[failure.reason] += 1


@dataclass(frozen=True, slots=True)
class _Item:
    """A parsed message attributed to a job (``inbound`` is None for a drained parked message)."""

    message: OutputMessage
    run_id: str | None
    inbound: InboundMessage | None = None
    parked: ParkedMessage | None = None


class BatchTracker:
    def __init__(
        self,
        store: JobStore,
        rule: CompletionRule,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._rule = rule
        self._clock = clock
        self._sleep = sleep

    def track(self, batch: Sequence[InboundMessage]) -> BatchReport:
        report = BatchReport()
        parsed: list[tuple[InboundMessage, OutputMessage]] = []
        for inbound in batch:
            try:
                parsed.append((inbound, parse_output_message(inbound.body, inbound.sent_at)))
            except PoisonMessage as exc:
                report.fail(inbound.message_id, Failure(exc.reason.value, exc.detail, retryable=False))
        groups, orphans = self._attribute(parsed, report)
        self._park(orphans, groups, report)
        if groups:
            try:
                preloaded = self._store.get_jobs(list(groups))
            except StorageUnavailable as exc:
                for items in groups.values():
                    self._fail_all(items, Failure("STORAGE_UNAVAILABLE", str(exc), retryable=True), report)
                return report
            for job_id, items in groups.items():
                try:
                    self._settle(job_id, items, preloaded.get(job_id), report)
                except Exception as exc:  # noqa: BLE001 - one job's defect must not fail the others
                    _log.exception("job %s could not be settled", job_id)
                    self._fail_all(items, Failure("INTERNAL_ERROR", repr(exc), retryable=True), report)
        return report

    # ------------------------------------------------------------------ attribution

    def _attribute(
        self, parsed: list[tuple[InboundMessage, OutputMessage]], report: BatchReport
    ) -> tuple[dict[str, list[_Item]], dict[RunKey, list[tuple[InboundMessage, OutputMessage]]]]:
        batch_links: dict[RunKey, RunLink] = {}
        for _, message in parsed:
            if (link := message.link) is not None:
                for link_key in link.lookup_keys():
                    batch_links.setdefault(link_key, link)

        wanted = {
            run_key
            for _, m in parsed
            if m.link is None and (run_key := m.run_key) is not None and run_key not in batch_links
        }
        try:
            stored_links = self._store.find_runs(wanted) if wanted else {}
        except StorageUnavailable as exc:
            stored_links = {}
            failure = Failure("STORAGE_UNAVAILABLE", str(exc), retryable=True)
            for inbound, message in parsed:
                if message.run_key in wanted:
                    report.fail(inbound.message_id, failure)
            parsed = [(i, m) for i, m in parsed if i.message_id not in report.failures]

        groups: dict[str, list[_Item]] = defaultdict(list)
        orphans: dict[RunKey, list[tuple[InboundMessage, OutputMessage]]] = defaultdict(list)
        for inbound, message in parsed:
            if (own := message.link) is not None:
                groups[own.job_id].append(_Item(message, own.run_id, inbound))
                continue
            target = message.run_key
            found = (batch_links.get(target) or stored_links.get(target)) if target else None
            if found is not None:
                groups[found.job_id].append(_Item(message, found.run_id, inbound))
            elif target is not None:
                orphans[target].append((inbound, message))
            elif message.job_id is not None:  # a message of unknown type naming its job only
                groups[message.job_id].append(_Item(message, None, inbound))
            if message.type is MessageType.UNKNOWN:
                report.unknown_types += 1
        return groups, orphans

    def _park(
        self,
        orphans: dict[RunKey, list[tuple[InboundMessage, OutputMessage]]],
        groups: dict[str, list[_Item]],
        report: BatchReport,
    ) -> None:
        """Keep messages of runs not linked yet; if a run got linked meanwhile, apply them instead."""
        for key, entries in orphans.items():
            parked = {
                message.digest: ParkedMessage(
                    key, message.digest, inbound.body, inbound.sent_at, inbound.message_id
                )
                for inbound, message in entries
            }
            try:
                self._store.park(key, list(parked.values()), self._clock())
                report.parked += len(entries)
                continue
            except RunAlreadyLinked:
                pass
            except StorageUnavailable as exc:
                self._fail_all(
                    [_Item(m, None, i) for i, m in entries],
                    Failure("STORAGE_UNAVAILABLE", str(exc), retryable=True),
                    report,
                )
                continue
            link = self._store.find_runs([key]).get(key)
            if link is None:  # cannot happen: links are never deleted
                self._fail_all(
                    [_Item(m, None, i) for i, m in entries], Failure("RACE", "run vanished", True), report
                )
                continue
            groups[link.job_id] += [_Item(m, link.run_id, i) for i, m in entries]

    # ------------------------------------------------------------------ one job

    def _settle(self, job_id: str, items: list[_Item], loaded: LoadedJob | None, report: BatchReport) -> None:
        drained: dict[str, _Item] = {}
        attempt = 0
        while True:
            current = loaded or LoadedJob(new_job(job_id), None)
            # Drain for every run this batch schedules, new or not: a redelivered WORKFLOW_SCHEDULED
            # must finish a drain that an earlier invocation started and did not finish.
            scheduled = self._scheduled_links(items)
            new_links = [link for link in scheduled if link.run_id not in current.job.runs]
            try:
                for item in self._drain(scheduled, drained):
                    drained[item.message.digest] = item
                job, items = self._apply(current.job, items, list(drained.values()), report)
                if current.version is None and not job.runs:
                    failure = Failure(PoisonReason.UNKNOWN_JOB.value, f"no job {job_id}", retryable=False)
                    self._fail_all(items, failure, report)
                    return
                if job == current.job:
                    report.unchanged_jobs += 1
                else:
                    loaded = self._store.save_job(current, job, new_links, self._clock())
                    report.job_writes += 1
                    if new_links and self._parked_since(new_links, drained):
                        continue  # a message was parked while we linked the run: apply it too
                report.applied += len(items)
                report.drained += len(drained)
                self._discard(drained)
                return
            except StaleJob:
                pass
            except RunClaimed as exc:
                items = self._reject_claimed(items, exc, report)
            except JobTooLarge as exc:
                failure = Failure(PoisonReason.LIMIT_EXCEEDED.value, str(exc), retryable=False)
                self._fail_all(items, failure, report)
                return
            except StorageUnavailable as exc:
                self._fail_all(items, Failure("STORAGE_UNAVAILABLE", str(exc), retryable=True), report)
                return
            attempt += 1
            if attempt >= MAX_ATTEMPTS:
                failure = Failure("CONFLICT", f"job {job_id} kept changing concurrently", retryable=True)
                self._fail_all(items, failure, report)
                return
            report.conflicts += 1
            self._sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not crypto
            try:
                loaded = self._store.get_jobs([job_id]).get(job_id)
            except StorageUnavailable as exc:
                self._fail_all(items, Failure("STORAGE_UNAVAILABLE", str(exc), retryable=True), report)
                return

    @staticmethod
    def _scheduled_links(items: list[_Item]) -> list[RunLink]:
        links: dict[str, RunLink] = {}
        for item in items:
            if (link := item.message.link) is not None:
                links.setdefault(link.run_id, link)
        return list(links.values())

    def _drain(self, links: list[RunLink], known: dict[str, _Item]) -> list[_Item]:
        """Messages parked against the runs of ``links``, not drained already."""
        if not links:
            return []
        run_of = {key: link.run_id for link in links for key in link.lookup_keys()}
        found = []
        for parked in self._store.parked(list(run_of)):
            if parked.digest in known:
                continue
            try:
                message = parse_output_message(parked.body, parked.sent_at)
            except PoisonMessage:
                continue  # parseable when parked; if not anymore, it stays parked for an operator
            found.append(_Item(message, run_of[parked.key], None, parked))
        return found

    def _parked_since(self, links: list[RunLink], drained: dict[str, _Item]) -> bool:
        keys = [key for link in links for key in link.lookup_keys()]
        return any(parked.digest not in drained for parked in self._store.parked(keys))

    def _discard(self, drained: dict[str, _Item]) -> None:
        parked = [item.parked for item in drained.values() if item.parked is not None]
        if parked:
            # Already applied: if discarding fails, draining them again later changes nothing.
            with contextlib.suppress(StorageUnavailable):
                self._store.discard_parked(parked)

    def _apply(
        self, stored: Job, items: list[_Item], drained: list[_Item], report: BatchReport
    ) -> tuple[Job, list[_Item]]:
        """Apply ``items`` and ``drained`` to a copy of ``stored``; returns it and the items kept."""
        job = stored.model_copy(deep=True)
        kept: list[_Item] = []
        # WORKFLOW_SCHEDULED first: the other messages of a run need the run to exist.
        ordered = sorted(
            [*items, *drained], key=lambda i: i.message.type is not MessageType.WORKFLOW_SCHEDULED
        )
        for item in ordered:
            try:
                apply(job, item.message, item.run_id)
            except PoisonMessage as exc:
                if item.inbound is not None:
                    report.fail(
                        item.inbound.message_id, Failure(exc.reason.value, exc.detail, retryable=False)
                    )
                continue
            except UnknownRun as exc:
                if item.inbound is not None:  # redelivery attributes it again
                    report.fail(item.inbound.message_id, Failure("UNKNOWN_RUN", str(exc), retryable=True))
                continue
            if item.inbound is not None:
                kept.append(item)
        derive(job, self._rule)
        return job, kept

    @staticmethod
    def _reject_claimed(items: list[_Item], exc: RunClaimed, report: BatchReport) -> list[_Item]:
        """Drop the WORKFLOW_SCHEDULED that claims another job's run (poison), and the messages this
        batch attributed to that run through it (retried: redelivery finds the rightful job)."""
        claimed_runs = {
            item.message.run_id
            for item in items
            if item.message.type is MessageType.WORKFLOW_SCHEDULED
            and exc.run_id in (item.message.run_id, item.message.workflow_id)
        }
        kept = []
        for item in items:
            if item.run_id not in claimed_runs:
                kept.append(item)
            elif item.inbound is not None:
                scheduled = item.message.type is MessageType.WORKFLOW_SCHEDULED
                failure = Failure(PoisonReason.RUN_CLAIMED.value, str(exc), retryable=not scheduled)
                report.fail(item.inbound.message_id, failure)
        return kept

    @staticmethod
    def _fail_all(items: Sequence[_Item], failure: Failure, report: BatchReport) -> None:
        for item in items:
            if item.inbound is not None:
                report.fail(item.inbound.message_id, failure)
