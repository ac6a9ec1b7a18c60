"""The store contract: the same tests on the DynamoDB store (against moto) and on its in-memory
twin, so that their conditions cannot drift apart. The tracker's and the API's correctness rest on
these conditions; the unit tests run on the twin."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from functions.jobs.errors import JobTooLarge, RunAlreadyLinked, RunClaimed, StaleJob
from functions.jobs.machine import derive, submitted_job
from functions.jobs.model import Job, JobStatus, Reported
from functions.jobs.protocol import MessageType as M
from functions.jobs.protocol import RunKey, RunLink
from functions.jobs.rules import CompletionRule
from functions.store.base import IdempotencyClaim, JobQuery, JobStore, LoadedJob, ParkedMessage, RunEntry
from functions.store.memory import MemoryJobStore
from tests.builders import JOB_ID, RUN_ID, WORKFLOW_ID, act, record, scheduled

pytestmark = pytest.mark.integration
LINK = RunLink(RUN_ID, JOB_ID, WORKFLOW_ID)
DAY = 24 * 3600


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[JobStore]:
    """Each test runs once on each store (the DynamoDB one on moto: tests/integration/conftest)."""
    if request.param == "memory":
        yield MemoryJobStore()
    else:
        yield request.getfixturevalue("dynamo_store")


def scheduled_job(job_id: str = JOB_ID) -> Job:
    return record([scheduled(1, job_id=job_id)])


def parked_message(digest: str = "d1", key: RunKey | None = None) -> ParkedMessage:
    return ParkedMessage(key or RunKey("run", RUN_ID), digest, '{"type": "ACTIVITY_STARTED"}', 12.5, "mid-1")


def created(store: JobStore, job_id: str, at: float, owner: str | None = None) -> LoadedJob:
    job = submitted_job(job_id, {"output_assets": []}, at, "c", owner=owner)
    job.createdAt = at
    derive(job, CompletionRule())
    return store.save_job(LoadedJob(job, None), job, [], {}, at)


def every_page(store: JobStore, query: JobQuery) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = store.list_jobs(replace(query, after=after))
        pages.append([loaded.job.jobId for loaded in page.jobs])
        if page.after is None:
            return pages
        after = page.after


def test_a_saved_job_reads_back_equal_with_its_version(store: JobStore):
    job = scheduled_job()
    saved = store.save_job(LoadedJob(job, None), job, [LINK], {}, 100.0)
    loaded = store.get_jobs([JOB_ID, "missing"])
    assert list(loaded) == [JOB_ID]
    assert loaded[JOB_ID].job == saved.job == job
    assert (loaded[JOB_ID].version, loaded[JOB_ID].updated_at) == (1, 100.0)
    assert store.lookup_runs(
        [RunKey("run", RUN_ID), RunKey("workflow", WORKFLOW_ID), RunKey("run", "x")]
    ) == {
        RunKey("run", RUN_ID): RunEntry(LINK, 0),
        RunKey("workflow", WORKFLOW_ID): RunEntry(LINK, 0),
    }


def test_a_stale_version_is_refused(store: JobStore):
    job = scheduled_job()
    first = store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)
    store.save_job(first, job, [], {}, 2.0)
    with pytest.raises(StaleJob):
        store.save_job(first, job, [], {}, 3.0)
    with pytest.raises(StaleJob):
        store.save_job(LoadedJob(job, None), job, [], {}, 3.0)  # "new" but it exists
    with pytest.raises(StaleJob):
        store.save_job(first, job, [RunLink("another-run", JOB_ID)], {}, 3.0)  # in a transaction too
    assert store.get_jobs([JOB_ID])[JOB_ID].version == 2


def test_a_run_of_another_job_is_refused_and_nothing_is_written(store: JobStore):
    job = scheduled_job()
    store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)
    intruder = scheduled_job("intruder")
    with pytest.raises(RunClaimed) as caught:
        store.save_job(LoadedJob(intruder, None), intruder, [RunLink(RUN_ID, "intruder")], {}, 2.0)
    assert caught.value.job_id == JOB_ID
    assert store.get_jobs(["intruder"]) == {}


def test_parking_is_refused_once_the_run_is_linked(store: JobStore):
    store.park(RunKey("run", RUN_ID), [parked_message("d1"), parked_message("d2")], 50.0)
    store.park(RunKey("run", RUN_ID), [parked_message("d1")], 51.0)  # the same message again: idempotent
    assert sorted(p.digest for p in store.parked([RunKey("run", RUN_ID)])) == ["d1", "d2"]
    job = scheduled_job()
    store.save_job(LoadedJob(job, None), job, [LINK], {RunKey("run", RUN_ID): 2}, 60.0)
    with pytest.raises(RunAlreadyLinked):
        store.park(RunKey("run", RUN_ID), [parked_message("d3")], 61.0)
    with pytest.raises(RunAlreadyLinked):
        store.park(
            RunKey("workflow", WORKFLOW_ID), [parked_message("d4", RunKey("workflow", WORKFLOW_ID))], 61.0
        )
    parked = store.parked([RunKey("run", RUN_ID)])
    assert parked[0] == ParkedMessage(
        RunKey("run", RUN_ID), parked[0].digest, '{"type": "ACTIVITY_STARTED"}', 12.5, "mid-1"
    )
    store.discard_parked(parked)
    assert store.parked([RunKey("run", RUN_ID)]) == []


def test_linking_a_run_requires_the_parking_version_that_was_drained(store: JobStore):
    key = RunKey("run", RUN_ID)
    store.park(key, [parked_message("d1")], 1.0)
    store.park(key, [parked_message("d2")], 2.0)
    assert store.lookup_runs([key]) == {key: RunEntry(None, 2)}
    job = scheduled_job()
    with pytest.raises(StaleJob):  # drained at version 1: d2 was parked since
        store.save_job(LoadedJob(job, None), job, [LINK], {key: 1}, 3.0)
    with pytest.raises(StaleJob):
        store.save_job(LoadedJob(job, None), job, [LINK], {}, 3.0)
    assert store.get_jobs([JOB_ID]) == {}
    store.save_job(LoadedJob(job, None), job, [LINK], {key: 2}, 3.0)
    assert store.lookup_runs([key]) == {key: RunEntry(LINK, 2)}  # the version stays: leftovers can be found


def test_a_job_too_big_for_an_item_is_refused(store: JobStore):
    job = submitted_job(JOB_ID, {"output_assets": []}, 1.0, "c")
    job.otherTypes = {f"T{'x' * 1000}{i}": 1.0 for i in range(400)}
    derive(job, CompletionRule())
    with pytest.raises(JobTooLarge):
        store.save_job(LoadedJob(job, None), job, [], {}, 1.0)


def test_a_big_value_is_kept_beside_the_job_and_read_back(store: JobStore):
    big = {"noise": "x" * 20_000}
    job = record([scheduled(1), act(M.ACTIVITY_COMPLETED, "ValidateAssetStep", 2, result=big)])
    saved = store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)
    held = saved.job.runs[RUN_ID].activities["ValidateAssetStep"].result
    assert held is not None and held.value is None and held.held is not None
    assert store.load_value(JOB_ID, held).value == big
    assert store.get_jobs([JOB_ID])[JOB_ID].job == saved.job
    small = Reported.of({"small": True}, 1.0)
    assert store.load_value(JOB_ID, small) is small


def test_only_the_version_read_may_delete_a_job(store: JobStore):
    first = created(store, "j-delete", 1.0)
    job = first.job.model_copy(deep=True)
    job.dispatchedAt = 2.0
    second = store.save_job(first, job, [], {}, 2.0)
    with pytest.raises(StaleJob):
        store.delete_job(first)
    store.delete_job(second)
    assert store.get_jobs(["j-delete"]) == {}
    with pytest.raises(StaleJob):
        store.delete_job(second)  # gone already


def test_an_idempotency_key_is_held_by_its_first_claim_until_released_or_expired(store: JobStore):
    first, second = IdempotencyClaim("job-1", "digest-1"), IdempotencyClaim("job-2", "digest-2")
    assert store.claim_idempotency_key("k", first, 1000.0) is None
    assert store.claim_idempotency_key("k", second, 1001.0) == first
    store.release_idempotency_key("k")
    assert store.claim_idempotency_key("k", second, 1002.0) is None
    assert store.claim_idempotency_key("k", first, 1002.0 + DAY - 1) == second  # within 24 hours
    assert store.claim_idempotency_key("k", first, 1002.0 + DAY + 1) is None  # expired: free
    assert store.claim_idempotency_key("other", second, 1.0) is None


def test_jobs_are_listed_newest_first_by_page_and_filtered(store: JobStore):
    for n in range(5):
        created(store, f"j{n}", 100.0 + n)
    page = store.list_jobs(JobQuery(limit=2))
    assert [loaded.job.jobId for loaded in page.jobs] == ["j4", "j3"] and page.after is not None
    rest = store.list_jobs(JobQuery(limit=10, after=page.after))
    assert [loaded.job.jobId for loaded in rest.jobs] == ["j2", "j1", "j0"] and rest.after is None
    window = store.list_jobs(JobQuery(limit=10, created_from=101.0, created_to=103.0))
    assert [loaded.job.jobId for loaded in window.jobs] == ["j2", "j1"]  # [from, to)
    submitted = store.list_jobs(JobQuery(limit=10, status="SUBMITTED", created_from=103.0))
    assert [loaded.job.jobId for loaded in submitted.jobs] == ["j4", "j3"]
    assert store.list_jobs(JobQuery(limit=10, status="COMPLETED")).jobs == []


def test_an_owners_list_holds_its_jobs_alone_and_everyones_holds_all(store: JobStore):
    for n in range(6):
        created(store, f"a{n}", 100.0 + 2 * n, owner="arn:aws:iam::111122223333:role/A")
        created(store, f"b{n}", 101.0 + 2 * n, owner="arn:aws:iam::111122223333:role/B")
    created(store, "legacy", 99.0)  # made before owners: nobody's
    owner_a = JobQuery(limit=4, owner="arn:aws:iam::111122223333:role/A")
    assert every_page(store, owner_a) == [["a5", "a4", "a3", "a2"], ["a1", "a0"]]
    window = replace(owner_a, limit=10, created_from=104.0, created_to=108.0)
    assert every_page(store, window) == [["a3", "a2"]]
    everyone = every_page(store, JobQuery(limit=100))
    assert everyone == [[*[x for n in range(5, -1, -1) for x in (f"b{n}", f"a{n}")], "legacy"]]
    assert every_page(store, JobQuery(limit=10, owner="arn:aws:iam::111122223333:role/C")) == [[]]
    loaded = store.get_jobs(["b0"])["b0"]
    failed = loaded.job.model_copy(deep=True)
    failed.status = JobStatus.FAILED  # as derive would leave it; the store indexes what it is given
    store.save_job(loaded, failed, [], {}, 200.0)
    assert every_page(
        store, JobQuery(limit=1, owner="arn:aws:iam::111122223333:role/B", status="FAILED")
    ) == [["b0"]]
    submitted_b = every_page(
        store, JobQuery(limit=2, owner="arn:aws:iam::111122223333:role/B", status="SUBMITTED")
    )
    assert [job for page in submitted_b for job in page] == ["b5", "b4", "b3", "b2", "b1"]
    assert all(len(page) <= 2 for page in submitted_b)
    assert every_page(
        store, JobQuery(limit=5, owner="arn:aws:iam::111122223333:role/A", status="FAILED")
    ) == [[]]


def test_the_item_limit_counts_bytes_not_characters(store: JobStore):
    job = submitted_job(JOB_ID, {"output_assets": []}, 1.0, "c")
    fire = "\U0001f525" * 1000
    job.otherTypes = {f"T{fire}{i}": 1.0 for i in range(100)}  # 100K characters, 400 KB of UTF-8
    derive(job, CompletionRule())
    with pytest.raises(JobTooLarge):
        store.save_job(LoadedJob(job, None), job, [], {}, 1.0)


def test_a_workflow_id_taken_by_another_run_is_a_retry_and_can_be_marked_ambiguous(store: JobStore):
    """Settled rule 11: a runId of another job is a claim (RUN_CLAIMED); a workflowId of another
    run is not: the tracker reads again and links the run by its runId alone."""
    job = scheduled_job()
    store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)
    other = scheduled_job("other-job")
    with pytest.raises(StaleJob):
        store.save_job(
            LoadedJob(other, None), other, [RunLink("other-run", "other-job", WORKFLOW_ID)], {}, 2.0
        )
    key = RunKey("workflow", WORKFLOW_ID)
    store.mark_ambiguous(key)
    store.mark_ambiguous(key)  # idempotent
    assert store.lookup_runs([key])[key] == RunEntry(LINK, 0, ambiguous=True)
    store.save_job(LoadedJob(other, None), other, [RunLink("other-run", "other-job")], {}, 3.0)
    assert store.lookup_runs([RunKey("run", "other-run")])[RunKey("run", "other-run")].link == RunLink(
        "other-run", "other-job"
    )
