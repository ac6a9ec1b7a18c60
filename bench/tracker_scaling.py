"""How the tracker's cost grows with the number of jobs: the same 100 jobs' streams (batch size 100)
tracked into a table that already holds 0, 900 and 9,900 finished jobs (100, 1,000 and 10,000 jobs
in all), against moto in process. Per message: DynamoDB requests and items (what AWS bills) and
wall time (moto's, so a ratio between the rows only). It should stay flat: the tracker reads and
writes by key, never by scanning.

    python -m bench.tracker_scaling [--sizes 100,1000,10000]

The finished jobs are copies of the measured jobs' final items (the job, its run links, its held
values), renamed, written with BatchWriteItem before the measurement.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

import boto3
from moto import mock_aws

from bench.tracker_requests import REGION, Tally, batches, build_stream, counting
from functions.jobs.rules import CompletionRule
from functions.store.base import TableBinding
from functions.store.dynamo import DynamoJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from local.embedded import FAKE_CREDENTIALS, environment
from local.moto_speedups import item_level_transaction_rollback
from local.resources import create_jobs_table

MEASURED_JOBS = 100
BATCH = 100


def _track(table: str, stream: list[InboundMessage]) -> tuple[Tally, float]:
    tracker = BatchTracker(DynamoJobStore(TableBinding(table, REGION)), CompletionRule())
    with counting() as tally:
        began = time.perf_counter()
        for batch in batches(stream, BATCH):
            tracker.track(batch)
        return tally, time.perf_counter() - began


def _finished_items(dynamodb: Any, stream: list[InboundMessage]) -> list[dict[str, Any]]:
    create_jobs_table(dynamodb, "template")
    _track("template", stream)
    return [
        item
        for page in dynamodb.get_paginator("scan").paginate(TableName="template")
        for item in page["Items"]
    ]


def _populate(dynamodb: Any, table: str, template: list[dict[str, Any]], copies: int) -> None:
    names = {item["jobId"]["S"] for item in template if "jobId" in item}
    names |= {
        item["pk"]["S"].split("#", 1)[1] for item in template if item["pk"]["S"].startswith(("RUN#", "WF#"))
    }
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    text = json.dumps(template)
    for copy in range(copies):
        items = json.loads(pattern.sub(rf"\g<0>~{copy}", text))
        for start in range(0, len(items), 25):
            chunk = items[start : start + 25]
            dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in chunk]})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    stream = build_stream(MEASURED_JOBS, 50, seed=11)
    rows = []
    with (
        environment(**FAKE_CREDENTIALS, AWS_DEFAULT_REGION=REGION),
        mock_aws(),
        item_level_transaction_rollback(),
    ):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        template = _finished_items(dynamodb, stream)
        for size in sizes:
            table = f"scale-{size}"
            create_jobs_table(dynamodb, table)
            _populate(dynamodb, table, template, size // MEASURED_JOBS - 1)
            held = dynamodb.describe_table(TableName=table)["Table"]["ItemCount"]
            tally, seconds = _track(table, stream)
            rows.append((size, held, tally, seconds))
    n = len(stream)
    print(f"the same {MEASURED_JOBS} jobs ({n} messages, batch size {BATCH}) into tables of growing size")
    print()
    print("| jobs in all | items before | requests/msg | items/msg | ms/msg | x the 100-job row (ms/msg) |")
    print("|---:|---:|---:|---:|---:|---:|")
    base = rows[0][3] / n
    for size, held, tally, seconds in rows:
        requests = (tally.reads + tally.writes) / n
        items = (tally.read_items + tally.write_items) / n
        print(
            f"| {size:,} | {held:,} | {requests:.3f} | {items:.3f} | {1000 * seconds / n:.2f} | "
            f"{seconds / n / base:.2f} |"
        )
    first, last = rows[0][2], rows[-1][2]
    same = (first.reads + first.writes) == (last.reads + last.writes)
    growth = rows[-1][3] / rows[0][3]
    print()
    print(
        f"target cost per message flat from {sizes[0]:,} to {sizes[-1]:,} jobs: requests "
        f"{'identical' if same else 'DIFFERENT'}, time x{growth:.2f} "
        f"({'met' if same and growth <= 1.5 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
