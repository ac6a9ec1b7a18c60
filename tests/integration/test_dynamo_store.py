"""The DynamoDB store against moto: the conditions the tracker's correctness rests on."""

from __future__ import annotations

import base64
import os

import boto3
import pytest

from functions.jobs.errors import StorageUnavailable
from functions.jobs.machine import derive, submitted_job
from functions.jobs.model import Job, JobStatus, Reported
from functions.jobs.protocol import MessageType as M
from functions.jobs.protocol import RunKey, RunLink
from functions.jobs.rules import CompletionRule
from functions.shared import aws
from functions.store import dynamo
from functions.store.base import JobQuery, LoadedJob, ParkedMessage, TableBinding
from functions.store.dynamo import BLOB_PART_BYTES, PARKED_TTL_SECONDS, DynamoJobStore
from tests.builders import JOB_ID, RUN_ID, WORKFLOW_ID, act, record, scheduled
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration
LINK = RunLink(RUN_ID, JOB_ID, WORKFLOW_ID)


def scheduled_job(job_id: str = JOB_ID) -> Job:
    return record([scheduled(1, job_id=job_id)])


def parked_message(digest: str = "d1", key: RunKey | None = None) -> ParkedMessage:
    return ParkedMessage(key or RunKey("run", RUN_ID), digest, '{"type": "ACTIVITY_STARTED"}', 12.5, "mid-1")


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


def test_every_table_connection_shares_the_functions_sdk_session(table: str, monkeypatch):
    """One botocore session (the SDK's data files loaded once) for all the store's connections."""
    import botocore.session  # noqa: PLC0415

    made: list[object] = []
    original = botocore.session.Session.__init__

    def counting(self: object, *args: object, **kwargs: object) -> None:
        made.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(botocore.session.Session, "__init__", counting)
    monkeypatch.setattr(aws._local, "session", None, raising=False)  # a fresh sandbox's thread
    store = DynamoJobStore(TableBinding(table, REGION))
    job = scheduled_job()
    saved = store.save_job(LoadedJob(job, None), job, [LINK], {}, 1.0)  # a transaction: links
    store.save_job(saved, job.model_copy(update={"dispatchedAt": 2.0}), [], {}, 2.0)  # a put
    store.park(RunKey("run", "another"), [parked_message("d9", RunKey("run", "another"))], 3.0)
    store.get_jobs([JOB_ID])
    store.lookup_runs([RunKey("run", RUN_ID)])
    assert len(made) == 1 and made[0] is aws.session()


def test_an_owners_status_filter_examines_a_bounded_number_of_jobs_per_page_and_loses_none(
    store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(dynamo, "OWNED_EXAMINED_PER_PAGE", 3)
    owner = "arn:aws:iam::111122223333:role/A"
    for n in range(8):
        job = submitted_job(f"j{n}", {"output_assets": []}, 100.0 + n, "c", owner=owner)
        job.createdAt = 100.0 + n
        derive(job, CompletionRule())
        if n in (0, 6):
            job.status = JobStatus.FAILED
        store.save_job(LoadedJob(job, None), job, [], {}, 100.0 + n)
    pages, after = [], None
    while True:
        page = store.list_jobs(JobQuery(limit=10, owner=owner, status="FAILED", after=after))
        pages.append([loaded.job.jobId for loaded in page.jobs])
        if page.after is None:
            break
        after = page.after
    # 3 of the owner's 8 jobs read per page: j7 j6 j5 | j4 j3 j2 | j1 j0
    assert pages == [["j6"], [], ["j0"]]
