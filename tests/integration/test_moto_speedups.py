"""The benchmark's faster transaction rollback for moto keeps moto's semantics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import boto3
import pytest

from functions.jobs.errors import RunClaimed
from functions.jobs.protocol import RunLink
from functions.store.base import LoadedJob
from functions.store.dynamo import DynamoJobStore
from local.moto_speedups import item_level_transaction_rollback
from tests.builders import JOB_ID, RUN_ID, WORKFLOW_ID, record, scheduled
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration


def stream_records(table: str) -> int:
    arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)["Table"][
        "LatestStreamArn"
    ]
    streams = boto3.client(
        "dynamodbstreams", region_name=REGION, endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com"
    )
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


@pytest.fixture(params=["moto's rollback", "item-level rollback"])
def rollback(request: pytest.FixtureRequest) -> Iterator[None]:
    with item_level_transaction_rollback() if request.param == "item-level rollback" else nullcontext():
        yield


def test_a_failed_transaction_leaves_items_and_stream_as_they_were(
    store: DynamoJobStore, table: str, rollback: None
):
    owner = record([scheduled(1)])
    owner_link = _link(JOB_ID)
    store.save_job(LoadedJob(owner, None), owner, [owner_link], {}, 1.0)
    before = stream_records(table)
    intruder = record([scheduled(2, job_id="intruder")])
    with pytest.raises(RunClaimed):  # the job (first item) is put, then the link's condition fails
        store.save_job(LoadedJob(intruder, None), intruder, [_link("intruder")], {}, 2.0)
    assert store.get_jobs(["intruder"]) == {}
    assert store.lookup_runs(owner_link.lookup_keys())[owner_link.lookup_keys()[0]].link == owner_link
    assert stream_records(table) == before
    again = record([scheduled(3, job_id="second")])
    store.save_job(LoadedJob(again, None), again, [], {}, 3.0)  # the table still works
    assert list(store.get_jobs(["second"])) == ["second"]


def _link(job_id: str) -> RunLink:
    return RunLink(RUN_ID, job_id, WORKFLOW_ID)
