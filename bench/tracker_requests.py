"""DynamoDB requests per message: the tracker at batch sizes 10 and 100 vs a naive poller.

    python -m bench.tracker_requests [--jobs 1000] [--concurrency 50] [--seed 7]

The stream: ``--jobs`` CT jobs (~25 messages each: preparing/progress/finishing bursts, 10% of
them failing, 30% with the Decider's messages) arriving so that ``--concurrency`` run at once; SQS
delivers 10% of the messages twice and moves each by up to 20 positions. Every consumer reads the
same stream against moto (in process; its transaction rollback made item-level, see
local.moto_speedups, so that time does not grow with the table); requests are counted at the AWS
SDK. The naive poller does what a poller with a database does: for each message, read the job,
apply the message, write it.

A second, in-memory run of the same batches (the tracker's in-memory twin, same logic) checks the
targets: a job is written at most once per batch, and never for a batch in which all its messages
were duplicates or stale (changed nothing on their own).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import botocore.client
import moto
from moto import mock_aws

from functions.jobs.errors import PoisonMessage
from functions.jobs.machine import apply, derive, new_job
from functions.jobs.model import Job
from functions.jobs.protocol import OutputMessage, parse_output_message
from functions.jobs.rules import CompletionRule
from functions.store.base import LoadedJob, TableBinding
from functions.store.dynamo import DynamoJobStore
from functions.store.memory import MemoryJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from local.ct_simulator import disturb, interleave, random_run, run_messages
from local.embedded import FAKE_CREDENTIALS, environment
from local.moto_speedups import item_level_transaction_rollback
from local.resources import create_jobs_table

REGION = "us-east-1"
READS = ("GetItem", "BatchGetItem", "Query")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@dataclass
class Tally:
    requests: Counter[str]
    items: Counter[str]

    @property
    def reads(self) -> int:
        return sum(self.requests[op] for op in READS)

    @property
    def writes(self) -> int:
        return sum(self.requests[op] for op in WRITES)

    @property
    def write_items(self) -> int:
        return sum(self.items[op] for op in WRITES)

    @property
    def read_items(self) -> int:
        return sum(self.items[op] for op in READS)


def _items_of(operation: str, params: dict[str, Any]) -> int:
    if operation == "BatchGetItem":
        return sum(len(spec["Keys"]) for spec in params["RequestItems"].values())
    if operation == "BatchWriteItem":
        return sum(len(requests) for requests in params["RequestItems"].values())
    if operation == "TransactWriteItems":
        return len(params["TransactItems"])
    return 1


@contextmanager
def counting() -> Iterator[Tally]:
    tally = Tally(Counter(), Counter())
    original = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        tally.requests[operation] += 1
        tally.items[operation] += _items_of(operation, params)
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counted):
        yield tally


def build_stream(jobs: int, concurrency: int, seed: int) -> list[InboundMessage]:
    rng = random.Random(seed)
    start = 1_764_000_000.0
    runs = [run_messages(random_run(rng, index, start)) for index in range(jobs)]
    delivered = disturb(interleave(runs, concurrency, rng, start), rng, duplicates=0.10, displacement=20)
    return [
        InboundMessage(f"m{i:07d}", json.dumps(body), body["time"] + 0.05) for i, body in enumerate(delivered)
    ]


def batches(stream: Sequence[InboundMessage], size: int) -> list[Sequence[InboundMessage]]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


# ------------------------------------------------------------------ consumers


def run_tracker(stream: Sequence[InboundMessage], size: int) -> tuple[Tally, float, int]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = f"bench-{size}"
    create_jobs_table(dynamodb, table)
    tracker = BatchTracker(DynamoJobStore(TableBinding(table, REGION)), CompletionRule())
    failures = 0
    with counting() as tally:
        began = time.perf_counter()
        for batch in batches(stream, size):
            failures += len(tracker.track(batch).failures)
        elapsed = time.perf_counter() - began
    return tally, elapsed, failures


class NaivePoller:
    """One message at a time: read the run's job record, apply the message, write it back."""

    def __init__(self, table: str) -> None:
        self._client = boto3.client("dynamodb", region_name=REGION)
        self._table = table

    def consume(self, message: InboundMessage) -> None:
        try:
            parsed = parse_output_message(message.body, message.sent_at)
        except PoisonMessage:
            return
        key = {"pk": {"S": f"RUN#{parsed.run_id}"}, "sk": {"S": "JOB"}}
        item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        record = json.loads(item["record"]["S"]) if item else {"job": None, "waiting": []}
        job = Job.model_validate(record["job"]) if record["job"] else None
        if parsed.link is not None:
            job = job or new_job(parsed.link.job_id)
            apply(job, parsed)
            for body, sent_at in record["waiting"]:
                apply(job, parse_output_message(body, sent_at), parsed.run_id)
            record["waiting"] = []
        elif job is not None:
            apply(job, parsed, parsed.run_id)
        else:
            record["waiting"].append([message.body, message.sent_at])
        if job is not None:
            derive(job, CompletionRule())
        record["job"] = job.model_dump(mode="json") if job else None
        self._client.put_item(TableName=self._table, Item={**key, "record": {"S": json.dumps(record)}})


def run_naive(stream: Sequence[InboundMessage]) -> tuple[Tally, float]:
    create_jobs_table(boto3.client("dynamodb", region_name=REGION), "bench-naive")
    poller = NaivePoller("bench-naive")
    with counting() as tally:
        began = time.perf_counter()
        for message in stream:
            poller.consume(message)
        elapsed = time.perf_counter() - began
    return tally, elapsed


# ------------------------------------------------------------------ targets (in-memory twin)


class ObservedStore(MemoryJobStore):
    """Counts job writes per job within the current batch."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_writes: Counter[str] = Counter()

    def save_job(self, loaded: LoadedJob, job: Job, links: Any, seen: Any, now: float) -> LoadedJob:
        self.batch_writes[job.jobId] += 1
        return super().save_job(loaded, job, links, seen, now)


@dataclass
class Targets:
    max_writes_per_job_per_batch: int
    redundant_batches: int
    redundant_batches_written: int


def check_targets(stream: Sequence[InboundMessage], size: int) -> Targets:
    store = ObservedStore()
    tracker = BatchTracker(store, CompletionRule())
    most = redundant = redundant_written = 0
    for batch in batches(stream, size):
        by_job = _messages_by_job(store, batch)
        pre = {job_id: loaded.job for job_id, loaded in store.get_jobs(list(by_job)).items()}
        store.batch_writes.clear()
        tracker.track(batch)
        most = max([most, *store.batch_writes.values()])
        for job_id, messages in by_job.items():
            if job_id in pre and all(_changes_nothing(pre[job_id], m) for m in messages):
                redundant += 1
                redundant_written += store.batch_writes[job_id]
    return Targets(most, redundant, redundant_written)


def _messages_by_job(
    store: MemoryJobStore, batch: Sequence[InboundMessage]
) -> dict[str, list[tuple[OutputMessage, str]]]:
    by_job: dict[str, list[tuple[OutputMessage, str]]] = defaultdict(list)
    for inbound in batch:
        try:
            message = parse_output_message(inbound.body, inbound.sent_at)
        except PoisonMessage:
            continue
        entry = store.entries.get(message.run_key) if message.run_key else None
        link = message.link or (entry.link if entry else None)
        if link is not None:
            by_job[link.job_id].append((message, link.run_id))
    return by_job


def _changes_nothing(job: Job, entry: tuple[OutputMessage, str]) -> bool:
    message, run_id = entry
    if message.link is None and run_id not in job.runs:
        return False
    candidate = job.model_copy(deep=True)
    apply(candidate, message, run_id)
    derive(candidate, CompletionRule())
    return candidate == job


# ------------------------------------------------------------------ report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    stream = build_stream(args.jobs, args.concurrency, args.seed)
    distinct = len({m.body for m in stream})
    print(
        f"stream: {args.jobs} jobs, {len(stream)} messages ({len(stream) / args.jobs:.1f} per job, "
        f"{len(stream) - distinct} duplicates), ~{args.concurrency} jobs in flight, displaced up to 20"
    )
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(
        f"machine: {python}, {platform.machine()}, {os.cpu_count()} cores; moto {moto.__version__} in process"
    )
    rows: list[tuple[str, Tally, float, Targets | None, int]] = []
    with (
        environment(**FAKE_CREDENTIALS, AWS_DEFAULT_REGION=REGION),
        mock_aws(),
        item_level_transaction_rollback(),
    ):
        naive, naive_seconds = run_naive(stream)
        rows.append(("naive poller (1 message at a time)", naive, naive_seconds, None, 0))
        for size in (10, 100):
            tally, seconds, failures = run_tracker(stream, size)
            rows.append(
                (f"tracker, batch size {size}", tally, seconds, check_targets(stream, size), failures)
            )

    n = len(stream)
    print()
    print(
        "| consumer | read req/msg | write req/msg | items read/msg | items written/msg | "
        "max job writes per job per batch | writes for duplicate/stale-only batches | "
        "msgs/s | x naive msgs/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, tally, seconds, targets, _failures in rows:
        per_batch = str(targets.max_writes_per_job_per_batch) if targets else "-"
        redundant = f"{targets.redundant_batches_written} of {targets.redundant_batches}" if targets else "-"
        print(
            f"| {name} | {tally.reads / n:.3f} | {tally.writes / n:.3f} | {tally.read_items / n:.3f} | "
            f"{tally.write_items / n:.3f} | {per_batch} | {redundant} | {n / seconds:,.0f} | "
            f"{naive_seconds / seconds:.2f} |"
        )
    print()
    for name, tally, _seconds, _targets, failures in rows:
        detail = ", ".join(f"{op} {count}" for op, count in sorted(tally.requests.items()))
        print(f"{name}: {detail}; messages not applied: {failures}")
    tracker_100 = rows[2][1]
    max_per_batch = max(t.max_writes_per_job_per_batch for *_, t, _f in rows[1:] if t)
    redundant_writes = sum(t.redundant_batches_written for *_, t, _f in rows[1:] if t)
    print()
    print(
        f"target at most 1 write per job per batch: {max_per_batch} "
        f"({'met' if max_per_batch <= 1 else 'NOT met'})"
    )
    print(
        f"target no write for duplicate/stale-only batches: {redundant_writes} "
        f"({'met' if redundant_writes == 0 else 'NOT met'})"
    )
    print(
        f"target <= 0.5 writes/msg at batch size 100: {tracker_100.writes / n:.3f} "
        f"({'met' if tracker_100.writes / n <= 0.5 else 'NOT met'}); "
        f"naive/tracker write ratio at batch size 100: {naive.writes / max(1, tracker_100.writes):.1f}x"
    )


if __name__ == "__main__":
    main()
