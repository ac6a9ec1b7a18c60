"""The watchdog: open jobs silent for longer than the limit end TIMED_OUT through the state machine;
anything heard of a job (a write of its record) keeps it alive."""

from __future__ import annotations

import json

import pytest

from functions import env
from functions.jobs.machine import derive, submitted_job
from functions.jobs.model import JobStatus
from functions.jobs.protocol import MessageType as M
from functions.jobs.rules import CompletionRule
from functions.shared.settings import SettingsError
from functions.store.base import JobPage, JobQuery, LoadedJob
from functions.store.memory import MemoryJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from functions.watchdog.logic import PAGE_SIZE, Watchdog
from functions.watchdog.settings import WatchdogSettings
from tests.builders import JOB_ID, ManualClock, act, job_input, progress, scheduled

RULE = CompletionRule()
LIMIT = 3600
V, T = "ValidateAssetStep", "TranscodeAssetStep"


class Stack:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = MemoryJobStore()
        self.tracker = BatchTracker(self.store, RULE, clock=self.clock)
        self.watchdog = Watchdog(self.store, RULE, LIMIT, self.clock)

    def report(self, *bodies: dict) -> None:
        batch = [
            InboundMessage(f"m{i}-{self.clock.now}", json.dumps(b), self.clock.now)
            for i, b in enumerate(bodies)
        ]
        assert not self.tracker.track(batch).failures

    def submit(self, job_id: str) -> None:
        job = submitted_job(job_id, job_input(), self.clock.now, "ClientA")
        derive(job, RULE)
        self.store.save_job(LoadedJob(job, None), job, [], {}, self.clock.now)

    def status(self, job_id: str = JOB_ID) -> JobStatus:
        return self.store.jobs[job_id].job.status


def test_a_job_silent_beyond_the_limit_times_out_and_one_within_it_does_not():
    stack = Stack()
    t0 = stack.clock.now
    stack.report(scheduled(t0), act(M.ACTIVITY_STARTED, V, t0))
    stack.clock.now += LIMIT - 1
    assert stack.watchdog.sweep().timed_out == []
    assert stack.status() is JobStatus.RUNNING
    stack.clock.now += 2
    report = stack.watchdog.sweep()
    assert report.timed_out == [JOB_ID]
    job = stack.store.jobs[JOB_ID].job
    assert (job.status, job.error["reason"]) == (JobStatus.TIMED_OUT, "STALLED")
    assert job.stall is not None and job.stall.silentSeconds == LIMIT + 1
    assert stack.watchdog.sweep().examined == 0  # ended: no longer looked at


def test_progress_keeps_a_long_job_alive_though_its_milestones_are_old():
    stack = Stack()
    t0 = stack.clock.now
    stack.report(scheduled(t0), act(M.ACTIVITY_STARTED, T, t0))
    for percent in range(10, 100, 10):  # every 20 minutes for 3 hours: always heard of
        stack.clock.now += 1200
        stack.report(progress(T, stack.clock.now, percent))
        assert stack.watchdog.sweep().timed_out == []
    assert stack.status() is JobStatus.RUNNING


def test_a_job_nothing_took_times_out_and_a_later_completion_replaces_the_finding():
    stack = Stack()
    stack.submit(JOB_ID)
    stack.clock.now += LIMIT + 60
    assert stack.watchdog.sweep().timed_out == [JOB_ID]
    assert stack.status() is JobStatus.TIMED_OUT
    t = stack.clock.now
    stack.report(
        scheduled(t),
        act(M.ACTIVITY_COMPLETED, V, t + 1, result={"format": {}}),
        act(M.ACTIVITY_COMPLETED, T, t + 2, result={}),
    )
    assert stack.status() is JobStatus.COMPLETED


class WrittenWhileListed(MemoryJobStore):
    """A store whose jobs get a report between the watchdog's listing and its write."""

    def __init__(self, tracker_report) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.tracker_report = tracker_report

    def list_jobs(self, query: JobQuery) -> JobPage:
        page = super().list_jobs(query)
        if page.jobs:
            self.tracker_report()
        return page


def test_a_job_heard_of_between_the_listing_and_the_write_is_left_alone():
    stack = Stack()
    stack.store = WrittenWhileListed(lambda: stack.report(progress(T, stack.clock.now, 50)))
    stack.tracker = BatchTracker(stack.store, RULE, clock=stack.clock)
    stack.watchdog = Watchdog(stack.store, RULE, LIMIT, stack.clock)
    stack.report(scheduled(stack.clock.now), act(M.ACTIVITY_STARTED, T, stack.clock.now))
    stack.clock.now += LIMIT + 1
    report = stack.watchdog.sweep()
    assert (report.timed_out, report.revived) == ([], 1)
    assert stack.status() is JobStatus.RUNNING


def test_every_page_of_open_jobs_is_swept():
    stack = Stack()
    ids = [f"job-{n:04d}" for n in range(PAGE_SIZE * 2 + 5)]
    for job_id in ids:
        stack.submit(job_id)
    stack.clock.now += LIMIT + 1
    report = stack.watchdog.sweep()
    assert sorted(report.timed_out) == ids
    assert report.finished


def test_a_sweep_short_of_time_stops_and_the_next_one_goes_on():
    stack = Stack()
    for n in range(3):
        stack.submit(f"job-{n}")
    stack.clock.now += LIMIT + 1
    report = stack.watchdog.sweep(time_left=lambda: 5.0)
    assert (report.finished, report.timed_out) == (False, [])
    assert len(stack.watchdog.sweep().timed_out) == 3


@pytest.mark.parametrize("limit", ["0", "", "soon"])
def test_the_limit_must_be_a_number_of_seconds(limit):
    with pytest.raises(SettingsError, match="stalled_after_seconds"):
        WatchdogSettings.from_environ({env.JOBS_TABLE_NAME: "jobs", env.STALLED_AFTER_SECONDS: limit})
