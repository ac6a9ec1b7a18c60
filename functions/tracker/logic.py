"""Apply a batch of output-queue messages to the jobs they belong to.

One pass per batch: parse every message; attribute each to its job (WORKFLOW_SCHEDULED messages of
the batch first, then what the store knows of the other runs, in one consistent batch read); park
the messages of runs not known yet; then for each job read it once, apply all its messages (and
those parked against the runs it schedules), and write it once if it changed. The write is
conditional: on a conflict, re-read and re-apply. A message that can never apply fails alone.

Parking cannot lose a message: parking bumps the run key's parking version unless the run is linked,
and linking a run is conditioned on the parking version the tracker drained. Whichever comes second
fails its condition and goes on with what the first wrote (see functions.store.dynamo).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

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
from functions.shared.retry import OptimisticRetry
from functions.store.base import JobStore, LoadedJob, ParkedMessage, RunEntry

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


_Orphans = dict[RunKey, list[tuple[InboundMessage, OutputMessage]]]


def _unavailable(exc: StorageUnavailable) -> Failure:
    return Failure("STORAGE_UNAVAILABLE", str(exc), retryable=True)


def _links_routing_by_run(
    links: list[RunLink], entries: dict[RunKey, RunEntry]
) -> tuple[list[RunLink], set[RunKey]]:
    """Settled rule 11: a run is identified by its runId, and a workflowId routes only while it
    names one run. A new run whose workflowId another run holds already (a re-run of the job,
    another job, another stack feeding the queue), or that another new run names too, is linked by
    its runId alone; the workflowId keys returned are to be marked ambiguous."""
    named = Counter(link.workflow_id for link in links if link.workflow_id)
    shared: set[RunKey] = set()
    routed = []
    for link in links:
        if link.workflow_id is None:
            routed.append(link)
            continue
        key = RunKey("workflow", link.workflow_id)
        entry = entries.get(key, RunEntry())
        held_by_another = entry.link is not None and entry.link.run_id != link.run_id
        if held_by_another or entry.ambiguous or named[link.workflow_id] > 1:
            shared.add(key)
            routed.append(replace(link, workflow_id=None))
        else:
            routed.append(link)
    return routed, shared


class BatchTracker:
    def __init__(
        self,
        store: JobStore,
        rule: CompletionRule,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        owners: Mapping[str, str] | None = None,
    ) -> None:
        """``owners``: client name -> owner (functions.jobs.owners.owners_by_client_name), for the
        jobs this tracker creates from a WORKFLOW_SCHEDULED."""
        self._store = store
        self._rule = rule
        self._owners = dict(owners or {})
        self._clock = clock
        self._retry = OptimisticRetry(MAX_ATTEMPTS, sleep=sleep)

    def track(self, batch: Sequence[InboundMessage]) -> BatchReport:
        report = BatchReport()
        parsed: list[tuple[InboundMessage, OutputMessage]] = []
        for inbound in batch:
            try:
                parsed.append((inbound, parse_output_message(inbound.body, inbound.sent_at)))
            except PoisonMessage as exc:
                report.fail(inbound.message_id, Failure(exc.reason.value, exc.detail, retryable=False))
        try:
            entries = self._lookup(parsed)
        except StorageUnavailable as exc:
            for inbound, _ in parsed:
                report.fail(inbound.message_id, _unavailable(exc))
            return report
        groups, orphans = self._attribute(parsed, entries, report)
        self._park(orphans, groups, report)
        if not groups:
            return report
        try:
            preloaded = self._store.get_jobs(list(groups))
        except StorageUnavailable as exc:
            for items in groups.values():
                self._fail_all(items, _unavailable(exc), report)
            return report
        for job_id, items in groups.items():
            try:
                self._settle(job_id, items, preloaded.get(job_id), entries, report)
            except Exception as exc:  # noqa: BLE001 - one job's defect must not fail the others
                _log.exception("job %s could not be settled", job_id)
                self._fail_all(items, Failure("INTERNAL_ERROR", repr(exc), retryable=True), report)
        return report

    # ------------------------------------------------------------------ attribution

    def _lookup(self, parsed: list[tuple[InboundMessage, OutputMessage]]) -> dict[RunKey, RunEntry]:
        """One consistent read for every run key of the batch (the parking versions of the runs it
        schedules, the links of the runs its other messages name)."""
        keys = {key for _, m in parsed for key in (m.link.lookup_keys() if m.link else [m.run_key]) if key}
        return self._store.lookup_runs(keys) if keys else {}

    def _attribute(
        self,
        parsed: list[tuple[InboundMessage, OutputMessage]],
        entries: dict[RunKey, RunEntry],
        report: BatchReport,
    ) -> tuple[dict[str, list[_Item]], _Orphans]:
        batch_links: dict[RunKey, RunLink] = {}
        ambiguous = {key for key, entry in entries.items() if entry.ambiguous}
        for _, message in parsed:
            if (link := message.link) is not None:
                for link_key in link.lookup_keys():
                    known = batch_links.setdefault(link_key, link)
                    stored = entries.get(link_key, RunEntry()).link
                    if known.run_id != link.run_id or (stored is not None and stored.run_id != link.run_id):
                        ambiguous.add(link_key)  # a workflowId of two runs (settled rule 11)

        groups: dict[str, list[_Item]] = defaultdict(list)
        orphans: _Orphans = defaultdict(list)
        for inbound, message in parsed:
            if message.type is MessageType.UNKNOWN:
                report.unknown_types += 1
            if (own := message.link) is not None:
                groups[own.job_id].append(_Item(message, own.run_id, inbound))
                continue
            target = message.run_key
            if target is not None and target.kind == "workflow" and target in ambiguous:
                detail = f"workflowId {target.value} names several runs and the message names none"
                report.fail(inbound.message_id, Failure(PoisonReason.AMBIGUOUS_WORKFLOW.value, detail, False))
                continue
            found = (batch_links.get(target) or entries.get(target, RunEntry()).link) if target else None
            if found is not None:
                groups[found.job_id].append(_Item(message, found.run_id, inbound))
            elif target is not None:
                orphans[target].append((inbound, message))
            elif message.job_id is not None:  # a message of unknown type naming its job only
                groups[message.job_id].append(_Item(message, None, inbound))
        return groups, orphans

    def _park(self, orphans: _Orphans, groups: dict[str, list[_Item]], report: BatchReport) -> None:
        """Keep messages of runs not linked yet; if a run got linked meanwhile, apply them instead."""
        for key, entries in orphans.items():
            items = [_Item(message, None, inbound) for inbound, message in entries]
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
                self._fail_all(items, _unavailable(exc), report)
                continue
            try:
                link = self._store.lookup_runs([key]).get(key, RunEntry()).link
            except StorageUnavailable as exc:
                self._fail_all(items, _unavailable(exc), report)
                continue
            if link is None:  # cannot happen: links are never removed
                self._fail_all(
                    items, Failure("UNKNOWN_RUN", f"run {key.value} vanished", retryable=True), report
                )
                continue
            groups[link.job_id] += [_Item(message, link.run_id, inbound) for inbound, message in entries]

    # ------------------------------------------------------------------ one job

    def _settle(
        self,
        job_id: str,
        items: list[_Item],
        loaded: LoadedJob | None,
        entries: dict[RunKey, RunEntry],
        report: BatchReport,
    ) -> None:
        drained: dict[str, _Item] = {}
        for attempt in self._retry:
            if attempt:
                report.conflicts += 1
                try:
                    loaded = self._store.get_jobs([job_id]).get(job_id)
                    keys = [key for link in self._scheduled_links(items) for key in link.lookup_keys()]
                    entries.update(self._store.lookup_runs(keys) if keys else {})
                except StorageUnavailable as exc:
                    self._fail_all(items, _unavailable(exc), report)
                    return
            current = loaded or LoadedJob(new_job(job_id), None)
            scheduled = self._scheduled_links(items)
            new_links, shared = _links_routing_by_run(
                [link for link in scheduled if link.run_id not in current.job.runs], entries
            )
            parked_seen = {
                key: entries.get(key, RunEntry()).parked for link in new_links for key in link.lookup_keys()
            }
            try:
                for key in shared - {k for k, e in entries.items() if e.ambiguous}:
                    self._store.mark_ambiguous(key)
                # Drain every run this batch schedules that had messages parked, new or not: a
                # redelivered WORKFLOW_SCHEDULED finishes a drain an earlier invocation left unfinished.
                for item in self._drain(scheduled, entries, drained):
                    drained[item.message.digest] = item
                job, items = self._apply(current.job, items, list(drained.values()), report)
                if current.version is None and job.owner is None and job.clientName is not None:
                    job.owner = self._owners.get(job.clientName)  # a job the API did not make
                if current.version is None and not job.runs:
                    failure = Failure(PoisonReason.UNKNOWN_JOB.value, f"no job {job_id}", retryable=False)
                    self._fail_all(items, failure, report)
                    return
                if job == current.job:
                    report.unchanged_jobs += 1
                else:
                    self._store.save_job(current, job, new_links, parked_seen, self._clock())
                    report.job_writes += 1
                report.applied += len(items)
                report.drained += len(drained)
                self._discard(drained)
                return
            except StaleJob:
                continue
            except RunClaimed as exc:
                items = self._reject_claimed(items, exc, report)
                continue
            except JobTooLarge as exc:
                failure = Failure(PoisonReason.LIMIT_EXCEEDED.value, str(exc), retryable=False)
                self._fail_all(items, failure, report)
                return
            except StorageUnavailable as exc:
                self._fail_all(items, _unavailable(exc), report)
                return
        failure = Failure("CONFLICT", f"job {job_id} kept changing concurrently", retryable=True)
        self._fail_all(items, failure, report)

    @staticmethod
    def _scheduled_links(items: list[_Item]) -> list[RunLink]:
        links: dict[str, RunLink] = {}
        for item in items:
            if (link := item.message.link) is not None:
                links.setdefault(link.run_id, link)
        return list(links.values())

    def _drain(
        self, links: list[RunLink], entries: dict[RunKey, RunEntry], known: dict[str, _Item]
    ) -> list[_Item]:
        """Messages parked against the runs of ``links`` (only keys that ever had some are read)."""
        run_of = {
            key: link.run_id
            for link in links
            for key in link.lookup_keys()
            if entries.get(key, RunEntry()).parked
        }
        if not run_of:
            return []
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
            if item.message.link is not None and exc.run_id in (item.message.run_id, item.message.workflow_id)
        }
        kept = []
        for item in items:
            if item.run_id not in claimed_runs:
                kept.append(item)
            elif item.inbound is not None:
                scheduled = item.message.link is not None
                failure = Failure(PoisonReason.RUN_CLAIMED.value, str(exc), retryable=not scheduled)
                report.fail(item.inbound.message_id, failure)
        return kept

    @staticmethod
    def _fail_all(items: Sequence[_Item], failure: Failure, report: BatchReport) -> None:
        for item in items:
            if item.inbound is not None:
                report.fail(item.inbound.message_id, failure)
