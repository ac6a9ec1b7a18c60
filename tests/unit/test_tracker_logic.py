"""The batch tracker with the in-memory store: coalescing, parking, conflicts and failures."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from functions.jobs.errors import StorageUnavailable
from functions.jobs.machine import apply, derive, submitted_job
from functions.jobs.model import Job
from functions.jobs.owners import owners_by_client_name
from functions.jobs.protocol import MessageType as M
from functions.jobs.protocol import RunKey, RunLink
from functions.jobs.rules import CompletionRule
from functions.store.base import LoadedJob, ParkedMessage, RunEntry
from functions.store.memory import MemoryJobStore
from functions.tracker.logic import MAX_ATTEMPTS, BatchTracker, InboundMessage
from local.ct_simulator import ffprobe_result
from tests.builders import JOB_ID, RUN_ID, WORKFLOW_ID, act, job_input, parsed, progress, scheduled

V, T = "ValidateAssetStep", "TranscodeAssetStep"


def inbound(bodies: Sequence[dict[str, Any] | str], prefix: str = "m") -> list[InboundMessage]:
    return [
        InboundMessage(f"{prefix}{i}", body if isinstance(body, str) else json.dumps(body), 1.0)
        for i, body in enumerate(bodies)
    ]


def tracker(store: Any) -> BatchTracker:
    return BatchTracker(store, CompletionRule(), clock=lambda: 1000.0, sleep=lambda _: None)


def full_run(job_id: str = JOB_ID, run_id: str = RUN_ID) -> list[dict[str, Any]]:
    return [
        scheduled(1, job_id=job_id, run_id=run_id, workflow_id=f"wf-{run_id}"),
        act(M.ACTIVITY_STARTED, V, 2, run_id=run_id),
        act(M.ACTIVITY_PREPARING, V, 3, run_id=run_id),
        act(M.ACTIVITY_COMPLETED, V, 4, run_id=run_id, result=ffprobe_result()),
        act(M.ACTIVITY_STARTED, T, 5, run_id=run_id),
        *[progress(T, 6 + i, 10 * i, run_id=run_id) for i in range(10)],
        act(M.ACTIVITY_FINISHING, T, 17, run_id=run_id),
        act(M.ACTIVITY_COMPLETED, T, 18, run_id=run_id, result=ffprobe_result(854, 480)),
    ]


def test_many_messages_of_one_job_cost_one_write():
    store = MemoryJobStore()
    report = tracker(store).track(inbound(full_run()))
    assert (report.applied, report.job_writes, report.failures) == (17, 1, {})
    assert store.writes == 1
    assert store.jobs[JOB_ID].job.status.value == "COMPLETED"


def test_a_batch_of_several_jobs_costs_one_write_per_job():
    store = MemoryJobStore()
    bodies = [body for i in range(3) for body in full_run(f"job-{i}", f"run-{i}")]
    report = tracker(store).track(inbound(bodies))
    assert report.job_writes == 3
    assert {job_id: loaded.job.status.value for job_id, loaded in store.jobs.items()} == dict.fromkeys(
        ["job-0", "job-1", "job-2"], "COMPLETED"
    )


def test_duplicates_and_stale_messages_cost_no_write():
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound(full_run()[:10]))
    writes = store.writes
    again = track.track(inbound(full_run()[:10], prefix="again"))
    stale = track.track(inbound([progress(T, 8.5, 15), act(M.ACTIVITY_PREPARING, V, 3.5)], prefix="stale"))
    assert (again.job_writes, stale.job_writes, store.writes) == (0, 0, writes)
    assert (again.unchanged_jobs, stale.unchanged_jobs) == (1, 1)
    assert again.applied == 10


def test_repeated_transfer_reports_change_nothing():
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound([scheduled(1), act(M.ACTIVITY_STARTED, V, 2), act(M.ACTIVITY_PREPARING, V, 3)]))
    heartbeats = [act(M.ACTIVITY_PREPARING, V, 13), act(M.ACTIVITY_PREPARING, V, 23)]
    report = track.track(inbound(heartbeats, prefix="later"))
    assert (report.applied, report.job_writes, report.unchanged_jobs) == (2, 0, 1)


def test_a_poison_message_fails_alone_and_the_batch_is_applied():
    bodies: list[dict[str, Any] | str] = [*full_run()[:5], "not json", *full_run()[5:]]
    store = MemoryJobStore()
    report = tracker(store).track(inbound(bodies))
    assert list(report.failures) == ["m5"]
    failure = report.failures["m5"]
    assert (failure.reason, failure.retryable) == ("NOT_JSON", False)
    assert report.rejected == {"NOT_JSON": 1}
    assert store.jobs[JOB_ID].job.status.value == "COMPLETED"


def test_messages_before_their_workflow_scheduled_are_parked_then_applied():
    store = MemoryJobStore()
    track = tracker(store)
    body = full_run()
    first = track.track(inbound(body[1:], prefix="early"))
    assert (first.parked, first.job_writes, first.failures) == (16, 0, {})
    assert len(store.parked_messages[RunKey("run", RUN_ID)]) == 16
    last = track.track(inbound(body[:1], prefix="late"))
    assert (last.drained, last.job_writes) == (16, 1)
    assert not store.parked_messages
    assert store.jobs[JOB_ID].job.status.value == "COMPLETED"


def test_workflow_scheduled_later_in_the_same_batch_needs_no_parking():
    store = MemoryJobStore()
    body = full_run()
    report = tracker(store).track(inbound([*body[1:], body[0]]))
    assert (report.parked, report.job_writes) == (0, 1)
    assert store.jobs[JOB_ID].job.status.value == "COMPLETED"


def test_a_message_naming_only_its_workflow_is_attributed_through_it():
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound([scheduled(1)]))
    started = act(M.ACTIVITY_STARTED, V, 2)
    del started["data"]["workflow"]["runId"]
    report = track.track(inbound([started]))
    assert (report.applied, report.parked) == (1, 0)
    assert store.jobs[JOB_ID].job.runs[RUN_ID].activities[V].status.value == "STARTED"
    link = store.entries[RunKey("workflow", WORKFLOW_ID)].link
    assert link is not None and (link.run_id, link.workflow_id) == (RUN_ID, WORKFLOW_ID)


def test_a_run_claimed_by_another_job_is_rejected():
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound([scheduled(1)]))
    intruder = scheduled(2, job_id="other-job")
    follower = act(M.ACTIVITY_STARTED, V, 3)
    report = track.track(inbound([intruder, follower]))
    assert report.failures["m0"].reason == "RUN_CLAIMED"
    assert not report.failures["m0"].retryable
    assert report.failures["m1"].retryable  # attributed through the intruder; redelivery finds the owner
    assert "other-job" not in store.jobs
    redelivered = track.track(inbound([follower], prefix="again"))
    assert redelivered.applied == 1
    assert store.jobs[JOB_ID].job.runs[RUN_ID].activities[V].status.value == "STARTED"


def test_a_rerun_reusing_its_workflow_id_is_linked_by_its_run_id():
    # Found by the fuzzers: the second run's workflowId link was already the job's, so every save
    # conflicted and the run was retried until it was dead-lettered.
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound([scheduled(1)]))
    rerun = track.track(
        inbound([scheduled(5, run_id="run-2"), act(M.ACTIVITY_STARTED, V, 6, run_id="run-2")])
    )
    assert rerun.failures == {} and rerun.applied == 2
    assert set(store.jobs[JOB_ID].job.runs) == {RUN_ID, "run-2"}
    assert store.entries[RunKey("run", "run-2")].link == RunLink("run-2", JOB_ID, None)
    assert store.entries[RunKey("workflow", WORKFLOW_ID)].link == RunLink(RUN_ID, JOB_ID, WORKFLOW_ID)


def test_an_unknown_type_for_an_unknown_job_is_rejected():
    report = tracker(MemoryJobStore()).track(
        inbound([{"time": 1, "type": "JOB_STARTED", "job_id": "nobody"}])
    )
    assert report.failures["m0"].reason == "UNKNOWN_JOB"
    assert report.unknown_types == 1


def test_an_unknown_type_for_a_known_job_is_recorded():
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound([scheduled(1)]))
    report = track.track(inbound([{"time": 5, "type": "JOB_STARTED", "jobId": JOB_ID}]))
    assert (report.failures, report.unknown_types) == ({}, 1)
    assert store.jobs[JOB_ID].job.otherTypes == {"JOB_STARTED": 5}


class RacingStore(MemoryJobStore):
    """Another invocation writes the job between our read and our write, ``conflicts`` times."""

    def __init__(self, conflicts: int, concurrent: dict[str, Any]) -> None:
        super().__init__()
        self.conflicts = conflicts
        self.concurrent = concurrent

    def save_job(
        self, loaded: LoadedJob, job: Job, links: Sequence[RunLink], seen: Any, now: float
    ) -> LoadedJob:
        if self.conflicts and loaded.version is not None:
            self.conflicts -= 1
            theirs = self.get_jobs([job.jobId])[job.jobId]
            apply(theirs.job, parsed(self.concurrent))
            derive(theirs.job, CompletionRule())
            super().save_job(theirs, theirs.job, [], {}, now)
        return super().save_job(loaded, job, links, seen, now)


def test_a_concurrent_write_is_retried_and_nothing_is_lost():
    store = RacingStore(conflicts=2, concurrent=act(M.ACTIVITY_STARTED, V, 2))
    track = tracker(store)
    track.track(inbound([scheduled(1)]))
    report = track.track(inbound([act(M.ACTIVITY_COMPLETED, V, 3, result={})]))
    assert (report.conflicts, report.job_writes, report.failures) == (2, 1, {})
    activity = store.jobs[JOB_ID].job.runs[RUN_ID].activities[V]
    assert set(activity.milestones) == {"STARTED", "COMPLETED"}


def test_endless_conflicts_fail_the_messages_for_a_retry():
    store = RacingStore(conflicts=100, concurrent=progress(V, 2, 1))
    track = tracker(store)
    track.track(inbound([scheduled(1)]))
    report = track.track(inbound([act(M.ACTIVITY_STARTED, V, 3)]))
    assert report.failures["m0"].reason == "CONFLICT"
    assert report.failures["m0"].retryable
    assert report.conflicts == MAX_ATTEMPTS - 1


class FlakyStore(MemoryJobStore):
    def __init__(self, broken_job: str) -> None:
        super().__init__()
        self.broken_job = broken_job

    def save_job(
        self, loaded: LoadedJob, job: Job, links: Sequence[RunLink], seen: Any, now: float
    ) -> LoadedJob:
        if job.jobId == self.broken_job:
            raise StorageUnavailable("ProvisionedThroughputExceededException")
        return super().save_job(loaded, job, links, seen, now)


def test_a_storage_failure_fails_only_that_jobs_messages_for_a_retry():
    store = FlakyStore("job-1")
    report = tracker(store).track(inbound([*full_run("job-0", "run-0"), *full_run("job-1", "run-1")]))
    failed = {mid for mid, failure in report.failures.items() if failure.retryable}
    assert failed == {f"m{i}" for i in range(17, 34)}
    assert store.jobs["job-0"].job.status.value == "COMPLETED"


class BuggyStore(MemoryJobStore):
    def save_job(
        self, loaded: LoadedJob, job: Job, links: Sequence[RunLink], seen: Any, now: float
    ) -> LoadedJob:
        if job.jobId == "job-1":
            raise ZeroDivisionError("a defect")
        return super().save_job(loaded, job, links, seen, now)


def test_a_defect_while_settling_one_job_does_not_fail_the_others():
    store = BuggyStore()
    report = tracker(store).track(inbound([*full_run("job-0", "run-0"), *full_run("job-1", "run-1")]))
    assert {f.reason for f in report.failures.values()} == {"INTERNAL_ERROR"}
    assert len(report.failures) == 17
    assert "job-0" in store.jobs


class LinkedWhileParking(MemoryJobStore):
    """Another invocation links the run just before we park."""

    def park(self, key: RunKey, messages: Sequence[ParkedMessage], now: float) -> None:
        if not self.jobs:
            tracker(self).track(inbound([scheduled(1)], prefix="other"))  # schedules only: never parks
        super().park(key, messages, now)  # the run is linked now: refused


def test_a_run_linked_while_parking_gets_its_messages_applied():
    store = LinkedWhileParking()
    report = tracker(store).track(inbound([act(M.ACTIVITY_STARTED, V, 2)]))
    assert (report.parked, report.applied, report.failures) == (0, 1, {})
    assert store.jobs[JOB_ID].job.runs[RUN_ID].activities[V].status.value == "STARTED"


class ParkedDuringLink(MemoryJobStore):
    """Another invocation parks a message after we read the run's parking version, before we link."""

    def __init__(self, late: dict[str, Any]) -> None:
        super().__init__()
        self.late = late

    def save_job(
        self, loaded: LoadedJob, job: Job, links: Sequence[RunLink], seen: Any, now: float
    ) -> LoadedJob:
        if links and self.late:
            key = RunKey("run", RUN_ID)
            self.park(
                key, [ParkedMessage(key, parsed(self.late).digest, json.dumps(self.late), 1.0, "x")], now
            )
            self.late = {}
        return super().save_job(loaded, job, links, seen, now)


def test_a_message_parked_while_the_run_is_being_linked_is_applied():
    store = ParkedDuringLink(act(M.ACTIVITY_STARTED, V, 2))
    report = tracker(store).track(inbound([scheduled(1)]))
    assert (report.conflicts, report.job_writes, report.drained, report.failures) == (1, 1, 1, {})
    assert not store.parked_messages
    assert store.jobs[JOB_ID].job.runs[RUN_ID].activities[V].status.value == "STARTED"


def test_a_run_without_parked_messages_is_linked_without_reading_any():
    store = MemoryJobStore()
    store.parked = lambda keys: pytest.fail("no parked message to read")  # type: ignore[method-assign]
    report = tracker(store).track(inbound(full_run()))
    assert (report.job_writes, report.failures) == (1, {})


class CrashAfterLink(MemoryJobStore):
    crash = True

    def discard_parked(self, messages: Sequence[ParkedMessage]) -> None:
        if self.crash:
            raise StorageUnavailable("crashed before discarding")
        super().discard_parked(messages)


def test_a_redelivered_workflow_scheduled_finishes_an_interrupted_drain():
    store = CrashAfterLink()
    track = tracker(store)
    track.track(inbound([act(M.ACTIVITY_STARTED, V, 2)]))
    track.track(inbound([scheduled(1)]))
    assert store.parked_messages  # applied, but the discard failed: still parked
    store.crash = False
    report = track.track(inbound([scheduled(1)], prefix="redelivered"))
    assert (report.drained, report.job_writes) == (1, 0)
    assert not store.parked_messages


class Unavailable(MemoryJobStore):
    def lookup_runs(self, keys: Collection[RunKey]) -> dict[RunKey, RunEntry]:
        raise StorageUnavailable("down")


@pytest.mark.parametrize("body", [act(M.ACTIVITY_STARTED, V, 2)])
def test_storage_down_during_attribution_fails_for_a_retry(body):
    report = tracker(Unavailable()).track(inbound([body]))
    assert report.failures["m0"].reason == "STORAGE_UNAVAILABLE"
    assert report.failures["m0"].retryable


def _sharing_workflow(job_id: str, run_id: str) -> list[dict[str, Any]]:
    """A run whose workflowId another job's run has too (SWF reuses closed ids; several stacks)."""
    return [
        scheduled(1, job_id=job_id, run_id=run_id, workflow_id="shared-wf"),
        *full_run(job_id, run_id)[1:],
    ]


@pytest.mark.parametrize("batching", ["one batch", "first then second", "second then first", "interleaved"])
def test_two_jobs_whose_runs_share_a_workflow_id_are_both_tracked_by_run_id(batching: str):
    """Settled rule 11: the second WORKFLOW_SCHEDULED is not rejected as RUN_CLAIMED (its run's
    messages then failed or stayed parked); both runs are tracked, whatever the batching."""
    first, second = _sharing_workflow("job-a", "run-a"), _sharing_workflow("job-b", "run-b")
    batches = {
        "one batch": [first + second],
        "first then second": [first, second],
        "second then first": [second, first],
        "interleaved": [[first[0]], second, first[1:]],
    }[batching]
    store = MemoryJobStore()
    track = tracker(store)
    failures = {}
    for n, batch in enumerate(batches):
        failures |= track.track(inbound(batch, prefix=f"b{n}-")).failures
    assert failures == {}
    for job_id, run_id in (("job-a", "run-a"), ("job-b", "run-b")):
        job = store.jobs[job_id].job
        assert (job.status.value, job.runId) == ("COMPLETED", run_id)
    assert store.entries[RunKey("workflow", "shared-wf")].ambiguous
    assert {store.entries[RunKey("run", r)].link.job_id for r in ("run-a", "run-b")} == {"job-a", "job-b"}


def test_a_message_naming_only_a_workflow_id_shared_by_two_runs_is_rejected_with_a_reason():
    store = MemoryJobStore()
    track = tracker(store)
    track.track(inbound([_sharing_workflow("job-a", "run-a")[0]], prefix="a"))
    started = act(M.ACTIVITY_STARTED, V, 2)
    started["data"]["workflow"] = {"workflowId": "shared-wf"}  # no runId
    assert track.track(inbound([started], prefix="one-run")).applied == 1  # it names one run: routed
    track.track(inbound([_sharing_workflow("job-b", "run-b")[0]], prefix="b"))
    report = track.track(inbound([started], prefix="two-runs"))
    failure = report.failures["two-runs0"]
    assert (failure.reason, failure.retryable) == ("AMBIGUOUS_WORKFLOW", False)


def test_a_job_the_tracker_creates_belongs_to_the_owner_its_client_name_maps_to():
    store = MemoryJobStore()
    owners = owners_by_client_name(
        {
            "arn:aws:sts::123456789012:assumed-role/PeerApp/s": "PeerSite",  # configured by a session ARN
            "arn:aws:iam::123456789012:role/A": "Shared",
            "arn:aws:iam::123456789012:role/B": "Shared",  # two owners, one name: nobody's
        }
    )
    tracker = BatchTracker(store, CompletionRule(), clock=lambda: 1000.0, sleep=lambda _: None, owners=owners)
    runs = [
        scheduled(job_id="peer-job", run_id="r1", workflow_id="w1", client="PeerSite"),
        scheduled(job_id="shared-job", run_id="r2", workflow_id="w2", client="Shared"),
        scheduled(job_id="stranger-job", run_id="r3", workflow_id="w3", client="Stranger"),
    ]
    assert not tracker.track(inbound(runs)).failures
    jobs = store.get_jobs(["peer-job", "shared-job", "stranger-job"])
    assert {job_id: loaded.job.owner for job_id, loaded in jobs.items()} == {
        "peer-job": "arn:aws:iam::123456789012:role/PeerApp",
        "shared-job": None,  # the operators'
        "stranger-job": None,
    }


def test_a_job_the_api_made_keeps_its_owner_whatever_client_name_it_reports():
    store = MemoryJobStore()
    job = submitted_job(JOB_ID, job_input(), 10.0, "ClientA", owner="arn:aws:iam::123456789012:user/local")
    derive(job, CompletionRule())
    store.save_job(LoadedJob(job, None), job, [], {}, 10.0)
    tracker = BatchTracker(
        store, CompletionRule(), owners={"ClientA": "arn:aws:iam::123456789012:role/Other"}
    )
    assert not tracker.track(inbound([scheduled()])).failures
    assert store.get_jobs([JOB_ID])[JOB_ID].job.owner == "arn:aws:iam::123456789012:user/local"
