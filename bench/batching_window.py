"""The tracker's batching window, chosen from a curve: DynamoDB writes per message and the latency
a window adds to a job's status, for windows of 0, 1, 5 and 10 s and 20, 50 and 200 jobs in flight.

    python -m bench.batching_window [--horizon 180] [--jobs 20,50,200] [--windows 0,1,5,10]

The stream arrives over virtual time at the engine's reporting rate: each of N slots runs CT jobs
back to back (local.ct_simulator: ~25 messages a job, its steps 0.5-10 s apart, as CT's 10 s
progress and transfer intervals space them), the slots starting within the first 10 s. Messages
are sent to an SQS queue when their time comes; the local event source (local.event_source, the
same code the local stack runs) gathers batches as Lambda's SQS poller does (batch size 100, the
window; no window: one receive of up to 10) and the tracker writes them to DynamoDB (moto, in
process). Time is a virtual clock, so the curve does not depend on this machine's speed: an
invocation is taken to last 50 ms plus 2 ms a message (the tracker's order on Lambda), during which
messages keep arriving.

* writes/msg: DynamoDB write requests per message (what on-demand bills, with the items each writes);
* added latency: from a message's arrival to the end of the invocation that wrote it (mean, p95).

One poller: Lambda starts five for a queue, so real batches at low rates are smaller than these
(between these and the no-window row), and the window's saving lower.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from bench.tracker_requests import REGION, counting
from functions.jobs.rules import CompletionRule
from functions.store.base import TableBinding
from functions.store.dynamo import DynamoJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from infra.tracker import BATCH_SIZE, BATCHING_WINDOW  # with a window; Lambda takes 10 without
from local.ct_simulator import random_run, run_messages
from local.embedded import FAKE_CREDENTIALS, environment
from local.event_source import SqsEventSource
from local.moto_speedups import item_level_transaction_rollback
from local.resources import create_jobs_table

INVOCATION_SECONDS = 0.05
PER_MESSAGE_SECONDS = 0.002
START = 1_764_000_000.0
LATENCY_GOAL_SECONDS = 2.0


def arrivals(jobs_in_flight: int, horizon: float, seed: int) -> list[dict[str, Any]]:
    """Message bodies in arrival order, each ``time`` its arrival (virtual seconds from START)."""
    rng = random.Random(seed)
    stream: list[dict[str, Any]] = []
    index = 0
    for _slot in range(jobs_in_flight):
        at = START + rng.uniform(0, 10)
        while at < START + horizon:
            messages = run_messages(random_run(rng, index, at))
            index += 1
            stream += [m for m in messages if m["time"] < START + horizon]
            at = max(m["time"] for m in messages) + rng.uniform(0.5, 5)
    return sorted(stream, key=lambda m: m["time"])


class VirtualTime:
    """The clock the event source reads and sleeps on: sleeping moves time on and sends the
    messages whose time has come."""

    def __init__(self, sqs: Any, queue_url: str, stream: Sequence[dict[str, Any]]) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._pending = [(m["time"], i, m) for i, m in enumerate(stream)]
        heapq.heapify(self._pending)
        self.now = START

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(self.now + seconds)

    def advance(self, to: float) -> None:
        self.now = max(self.now, to)
        due = []
        while self._pending and self._pending[0][0] <= self.now:
            due.append(heapq.heappop(self._pending)[2])
        for start in range(0, len(due), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(due[start : start + 10])
            ]
            self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)

    @property
    def next_arrival(self) -> float | None:
        return self._pending[0][0] if self._pending else None


@dataclass
class Row:
    jobs: int
    window: float
    messages: int
    invocations: int
    writes: int
    write_items: int
    latencies: list[float]

    @property
    def per_batch(self) -> float:
        return self.messages / max(1, self.invocations)


def measure(jobs_in_flight: int, window: float, horizon: float, seed: int) -> Row:
    stream = arrivals(jobs_in_flight, horizon, seed)
    name = f"w{jobs_in_flight}-{str(window).replace('.', '_')}"
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    create_jobs_table(boto3.client("dynamodb", region_name=REGION), name)
    tracker = BatchTracker(DynamoJobStore(TableBinding(name, REGION)), CompletionRule())
    time = VirtualTime(sqs, queue_url, stream)
    latencies: list[float] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        inbound = [
            InboundMessage(r["messageId"], r["body"], int(r["attributes"]["SentTimestamp"]) / 1000)
            for r in records
        ]
        report = tracker.track(inbound)
        time.sleep(INVOCATION_SECONDS + PER_MESSAGE_SECONDS * len(records))
        latencies.extend(time.now - json.loads(r["body"])["time"] for r in records)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failures]}

    source = SqsEventSource(
        sqs,
        queue_url,
        handler,
        batch_size=BATCH_SIZE if window else 10,
        batching_window=window,
        clock=time.clock,
        sleep=time.sleep,
    )
    with counting() as tally:
        while True:
            if source.poll_once():
                continue
            following = time.next_arrival
            if following is None:
                break
            time.advance(following)
    return Row(
        jobs_in_flight,
        window,
        len(stream),
        source.stats.invocations,
        tally.writes,
        tally.write_items,
        latencies,
    )


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--horizon", type=float, default=180.0, help="virtual seconds of arrivals")
    parser.add_argument("--jobs", default="20,50,200")
    parser.add_argument("--windows", default="0,1,5,10")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    rows = []
    with (
        environment(**FAKE_CREDENTIALS, AWS_DEFAULT_REGION=REGION),
        mock_aws(),
        item_level_transaction_rollback(),
    ):
        for jobs in (int(j) for j in args.jobs.split(",")):
            for window in (float(w) for w in args.windows.split(",")):
                rows.append(measure(jobs, window, args.horizon, args.seed))
    print(
        f"{args.horizon:.0f} virtual seconds of arrivals; an invocation lasts "
        f"{INVOCATION_SECONDS * 1000:.0f} ms + {PER_MESSAGE_SECONDS * 1000:.0f} ms a message; one poller; "
        f"batch size {BATCH_SIZE} (10 without a window)"
    )
    print()
    print(
        "| jobs in flight | window | messages | msgs/s | msgs/batch | write req/msg | items written/msg | "
        "x no-window writes | added latency mean | p95 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        base = next(r for r in rows if r.jobs == row.jobs and r.window == min(x.window for x in rows))
        print(
            f"| {row.jobs} | {row.window:g} s | {row.messages:,} | {row.messages / args.horizon:.1f} | "
            f"{row.per_batch:.1f} | {row.writes / row.messages:.3f} | {row.write_items / row.messages:.3f} | "
            f"{row.writes / base.writes:.2f} | {statistics.fmean(row.latencies):.2f} s | "
            f"{_p95(row.latencies):.2f} s |"
        )
    stack_window = BATCHING_WINDOW.to_seconds()
    chosen = [r for r in rows if r.window == stack_window]
    if chosen:
        worst = max(_p95(r.latencies) for r in chosen)
        per_message = ", ".join(f"{r.writes / r.messages:.3f} at {r.jobs}" for r in chosen)
        print()
        print(
            f"goal the stack's window ({stack_window:g} s) adds at most {LATENCY_GOAL_SECONDS:g} s to a "
            f"status (p95) at every load: {worst:.2f} s "
            f"({'met' if worst <= LATENCY_GOAL_SECONDS else 'NOT met'}); "
            f"writes/msg {per_message} jobs in flight"
        )
        print(
            "(on AWS, a queue with a batching window and very little traffic may wait up to 20 s "
            "whatever the window: Lambda's SQS documentation)"
        )


if __name__ == "__main__":
    main()
