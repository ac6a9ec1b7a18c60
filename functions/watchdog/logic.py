"""The watchdog: jobs not yet ended that nothing was heard of for a while end TIMED_OUT.

Whoever does the work (this stack's engine or a CPE stack) may die without a word: a job it
dropped would otherwise stay SUBMITTED, SCHEDULED or RUNNING forever. What counts as hearing of a
job is any write of its record (a message applied, progress included, or a cancel request), so
silence is measured from the record's last write. The finding goes through the state machine
(:func:`~functions.jobs.machine.record_stall`) like any fact: a completion reported later still
wins, and stream consumers see an ordinary change of status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from functions.jobs.errors import StaleJob
from functions.jobs.machine import derive, record_stall
from functions.jobs.model import JobStatus
from functions.jobs.rules import CompletionRule
from functions.store.base import JobQuery, JobStore, LoadedJob

# Jobs that have not ended, in the order they are looked at.
OPEN_STATUSES = (JobStatus.SUBMITTED, JobStatus.SCHEDULED, JobStatus.RUNNING)
PAGE_SIZE = 100


@dataclass
class SweepReport:
    examined: int = 0
    timed_out: list[str] = field(default_factory=list)
    revived: int = 0  # silent when listed, written meanwhile: heard of after all
    finished: bool = True  # False: stopped for lack of time, the next sweep goes on


def last_heard(loaded: LoadedJob) -> float:
    """When anything was last heard of the job: its record's last write (or its facts' latest time,
    for a record written before the store kept write times)."""
    job = loaded.job
    times = [loaded.updated_at, job.lastEventAt, job.submittedAt, job.dispatchedAt, job.cancelRequestedAt]
    return max((t for t in times if t is not None), default=job.createdAt)


@dataclass(frozen=True)
class Watchdog:
    store: JobStore
    rule: CompletionRule
    stalled_after_seconds: int
    clock: Callable[[], float]

    def sweep(self, time_left: Callable[[], float] = lambda: float("inf")) -> SweepReport:
        """End every open job silent for longer than the limit. Stops early, leaving the rest to the
        next sweep, when ``time_left()`` (seconds) runs low."""
        report = SweepReport()
        now = self.clock()
        # A job created within the limit cannot have been silent for longer than it.
        created_before = now - self.stalled_after_seconds
        for status in OPEN_STATUSES:
            after: str | None = None
            while True:
                if time_left() < 10:
                    report.finished = False
                    return report
                page = self.store.list_jobs(
                    JobQuery(limit=PAGE_SIZE, status=status.value, created_to=created_before, after=after)
                )
                for loaded in page.jobs:
                    report.examined += 1
                    self._examine(loaded, now, report)
                if page.after is None:
                    break
                after = page.after
        return report

    def _examine(self, loaded: LoadedJob, now: float, report: SweepReport) -> None:
        silent = now - last_heard(loaded)
        if loaded.job.status.is_terminal or silent < self.stalled_after_seconds:
            return
        job = loaded.job.model_copy(deep=True)
        record_stall(job, now, int(silent))
        derive(job, self.rule)
        try:
            self.store.save_job(loaded, job, [], {}, now)
        except StaleJob:
            report.revived += 1  # written since it was read: not silent after all
            return
        report.timed_out.append(job.jobId)
