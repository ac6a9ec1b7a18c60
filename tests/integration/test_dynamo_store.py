"""The DynamoDB store against moto: the conditions the tracker's correctness rests on."""

from __future__ import annotations

import base64
import os

import boto3
import pytest

from functions.jobs.errors import JobTooLarge, RunAlreadyLinked, RunClaimed, StaleJob, StorageUnavailable
from functions.jobs.machine import derive, submitted_job
from functions.jobs.model import Job, Reported
from functions.jobs.protocol import MessageType as M
from functions.jobs.protocol import RunKey, RunLink
from functions.jobs.rules import DEFAULT_RULE
from functions.store.base import LoadedJob, ParkedMessage, RunEntry, TableBinding
from functions.store.dynamo import BLOB_PART_BYTES, PARKED_TTL_SECONDS, DynamoJobStore
from tests.builders import JOB_ID, RUN_ID, WORKFLOW_ID, act, record, scheduled
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration
LINK = RunLink(RUN_ID, JOB_ID, WORKFLOW_ID)


def scheduled_job(job_id: str = JOB_ID) -> Job:
    return record([scheduled(1, job_id=job_id)])


def parked_message(digest: str = "d1", key: RunKey | None = None) -> ParkedMessage:
    return ParkedMessage(key or RunKey("run", RUN_ID), digest, '{"type": "ACTIVITY_STARTED"}', 12.5, "mid-1")


def test_a_saved_job_reads_back_equal_with_its_version(store: DynamoJobStore):
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


def test_a_stale_version_is_refused(store: DynamoJobStore):
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


def test_a_run_of_another_job_is_refused_and_nothing_is_written(store: DynamoJobStore):
    job = scheduled_job()
    store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)
    intruder = scheduled_job("intruder")
    with pytest.raises(RunClaimed) as caught:
        store.save_job(LoadedJob(intruder, None), intruder, [RunLink(RUN_ID, "intruder")], {}, 2.0)
    assert caught.value.job_id == JOB_ID
    assert store.get_jobs(["intruder"]) == {}


def test_parking_is_refused_once_the_run_is_linked(store: DynamoJobStore):
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


def test_linking_a_run_requires_the_parking_version_that_was_drained(store: DynamoJobStore):
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


def test_parked_messages_expire_after_the_longest_sqs_retention(store: DynamoJobStore, table: str):
    store.park(RunKey("run", RUN_ID), [parked_message()], 1000.0)
    client = boto3.client("dynamodb", region_name=REGION)
    for sk in ("PARKED#d1", "LINK"):
        item = client.get_item(TableName=table, Key={"pk": {"S": f"RUN#{RUN_ID}"}, "sk": {"S": sk}})["Item"]
        assert int(item["expiresAt"]["N"]) == 1000 + PARKED_TTL_SECONDS
    job = scheduled_job()
    store.save_job(LoadedJob(job, None), job, [LINK], {RunKey("run", RUN_ID): 1}, 1001.0)
    link = client.get_item(TableName=table, Key={"pk": {"S": f"RUN#{RUN_ID}"}, "sk": {"S": "LINK"}})["Item"]
    assert "expiresAt" not in link  # a linked run is kept


def test_a_value_bigger_than_an_item_is_kept_in_parts(store: DynamoJobStore, table: str):
    noise = base64.b64encode(os.urandom(600_000)).decode()  # incompressible: several parts
    job = record([scheduled(1), act(M.ACTIVITY_COMPLETED, "ValidateAssetStep", 2, result={"noise": noise})])
    saved = store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)
    held = saved.job.runs[RUN_ID].activities["ValidateAssetStep"].result
    assert held is not None and held.value is None
    parts = boto3.client("dynamodb", region_name=REGION).query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :blob)",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{JOB_ID}"}, ":blob": {"S": "BLOB#"}},
    )["Items"]
    assert len(parts) >= 2
    assert all(len(part["data"]["B"]) <= BLOB_PART_BYTES for part in parts)
    assert store.load_value(JOB_ID, held).value == {"noise": noise}
    again = store.get_jobs([JOB_ID])[JOB_ID]
    assert again.job == saved.job


def test_a_job_too_big_for_an_item_is_refused(store: DynamoJobStore):
    job = submitted_job(JOB_ID, {"output_assets": []}, 1.0, "c")
    job.otherTypes = {f"T{'x' * 1000}{i}": 1.0 for i in range(400)}
    derive(job, DEFAULT_RULE)
    with pytest.raises(JobTooLarge):
        store.save_job(LoadedJob(job, None), job, [], {}, 1.0)


def test_a_missing_table_is_storage_unavailable(aws: None):
    store = DynamoJobStore(TableBinding("no-such-table", REGION))
    with pytest.raises(StorageUnavailable):
        store.get_jobs([JOB_ID])
    job = scheduled_job()
    with pytest.raises(StorageUnavailable):
        store.save_job(LoadedJob(job, None), job, [], {}, 1.0)


def test_inline_values_are_read_back_without_a_request(store: DynamoJobStore, calls):
    value = Reported.of({"small": True}, 1.0)
    assert store.load_value(JOB_ID, value) is value
    assert sum(calls.values()) == 0
