"""A chaos run of the tracker: hundreds of jobs' message streams (generated as the tracker's
property tests generate them, plus a few the engine really emits, recorded at the start of the run
from real work on generated media) as a busy CPE stack and SQS deliver them (interleaved,
duplicated, displaced, some runs' WORKFLOW_SCHEDULED last, poison among them), consumed by several
concurrent tracker pollers against moto in server mode through the local SQS event source
(visibility timeout, partial batch failures, redrive to the DLQ). Every final job must equal the
in-order reference, only the poison may be dead-lettered, no message may stay parked unapplied
(every run here gets linked in the end). A parked copy of a message that was applied anyway may
stay behind when an invocation dies or storage fails between applying it and deleting the copy:
it is counted apart and must carry its expiry, after which DynamoDB's TTL removes it.

With ``--faults``, AWS's failures on top (local.faults): DynamoDB throttling, conditional-check
conflicts with a competing writer, responses lost after the write landed, and invocations killed
mid-batch (their messages come back after the visibility timeout). The same must hold.

    python -m local.chaos [--jobs 300] [--workers 4] [--duplicates 0.2] [--seed 7] [--faults]
                          [--no-engine]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from unittest import mock

from engine.activities import EngineOptions
from engine.reporting import RunReporter, new_run_id, new_workflow_id
from engine.storage import Storage
from engine.workflow import run_job
from functions import env
from functions.jobs.rules import CompletionRule
from functions.store.base import JobStore, TableBinding
from functions.store.dynamo import DynamoJobStore
from functions.store.layout import LINK_SK, PARKED_PREFIX
from functions.store.memory import MemoryJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from local import sample_media
from local.ct_simulator import disturb, interleave, job_input, random_run, run_messages
from local.embedded import embedded_aws, environment
from local.event_source import SqsEventSource, dropping_disabled_metrics
from local.faults import FaultPlan, MortalStore, surviving
from local.resources import create_jobs_table, create_queue_with_dlq

TABLE = "chaos-jobs"
QUEUE = "chaos-output"
# Longer than any invocation here (the stack: 181 s for a 30 s function); poison needs 5 of them.
VISIBILITY = 6
POISON = ['{"type": "ACTIVITY_STARTED", "data": 7}', "not json", '{"no": "type"}']
# moto's SQS costs O(queue length) per send and receive: a bounded backlog keeps a big run linear.
BACKLOG = 500
# Each share hits that many DynamoDB requests (kills: store writes); enough that every kind of
# fault happens many times in a CI-sized run, not so many that botocore's retries give up often.
FAULTS = FaultPlan(throttle=0.1, conflict=0.1, lost_response=0.05, kill=0.03)
ENGINE_BUCKET = "chaos-media"


@dataclass
class ChaosReport:
    jobs: int
    engine_jobs: dict[str, str]  # the recorded engine runs' jobs, and the status each must end in
    messages: int
    duplicates: int
    poison: int
    workers: int
    seconds: float
    mismatched: list[str] = field(default_factory=list)
    dead_letters: int = 0
    unexpected_dead_letters: list[str] = field(default_factory=list)
    parked_left: int = 0  # parked messages whose run never got linked: lost
    parked_copies: int = 0  # parked copies of messages their linked run's job already holds
    copies_without_expiry: int = 0
    invocations: int = 0
    failed_invocations: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            not self.mismatched
            and not self.unexpected_dead_letters
            and self.dead_letters == self.poison
            and self.parked_left == 0
            and self.copies_without_expiry == 0
        )


def engine_runs(s3: Any, workdir: Path) -> list[list[dict[str, Any]]]:
    """The messages the engine sends for real work on generated media in S3, one list per run: four
    outputs completed (progress, transfers, HLS, thumbnails, audio), a corrupt input, and a job one
    of whose outputs fails while the other completes."""
    s3.create_bucket(Bucket=ENGINE_BUCKET)
    s3.upload_file(str(sample_media.video(workdir / "clip.mp4", seconds=3)), ENGINE_BUCKET, "in/clip.mp4")
    s3.upload_file(str(sample_media.corrupt(workdir / "bad.mp4")), ENGINE_BUCKET, "in/bad.mp4")

    def output(kind: str, file: str, **settings: Any) -> dict[str, Any]:
        return {"type": kind, "bucket": ENGINE_BUCKET, "file": file, **settings}

    jobs = {
        "engine-completed": (
            "/in/clip.mp4",
            [
                output("VIDEO", "/out/1/clip.mp4", preset="360p-16.9-generic"),
                output("VIDEO", "/out/1/clip.m3u8", preset="hls400k-generic"),
                output("THUMB", "/out/1/thumb.jpg", mode="intervals", intervals=1),
                output("AUDIO", "/out/1/clip.m4a"),
            ],
        ),
        "engine-corrupt-input": ("/in/bad.mp4", [output("VIDEO", "/out/2/bad.mp4")]),
        "engine-one-output-failed": (
            "/in/clip.mp4",
            [output("IMAGE", "/out/3/still.jpg"), output("THUMB", "/out/3/thumb.jpg", snapshot_sec=1)],
        ),
    }
    options = EngineOptions(encoder_preset="ultrafast", work_dir=workdir)
    runs = []
    for job_id, (source, outputs) in jobs.items():
        data = job_input(job_id, as_list=True, bucket=ENGINE_BUCKET)
        data["input_asset"] = {"type": "VIDEO", "bucket": ENGINE_BUCKET, "file": source}
        data["output_assets"] = outputs
        sent: list[dict[str, Any]] = []
        reporter = RunReporter(job_id, new_run_id(), new_workflow_id(), sent.append, progress_interval=0.2)
        run_job(data, reporter, Storage(s3), options)
        runs.append(sent)
    return runs


def build(
    jobs: int, duplicates: float, seed: int, recorded: Sequence[list[dict[str, Any]]] = ()
) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """(each run's messages in sending order, as sent, the disturbed stream as SQS bodies): ``jobs``
    generated runs and the ``recorded`` ones."""
    rng = random.Random(seed)
    generated = [run_messages(random_run(rng, index, 1_700_000_000.0)) for index in range(jobs)]
    # Interleaving stamps each message with its sending time: the reference takes those bodies.
    stream = interleave([*generated, *recorded], concurrency=min(50, jobs), rng=rng, start=1_700_000_000.0)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for message in stream:
        run_id = message.get("runId") or message["data"]["workflow"]["runId"]
        by_run.setdefault(run_id, []).append(message)
    runs = list(by_run.values())
    late = {m["runId"] for m in stream if m["type"] == "WORKFLOW_SCHEDULED" and rng.random() < 0.1}
    scheduled_late = [m for m in stream if m["type"] == "WORKFLOW_SCHEDULED" and m["runId"] in late]
    stream = [m for m in stream if m not in scheduled_late] + scheduled_late
    bodies = [json.dumps(m) for m in disturb(stream, rng, duplicates=duplicates, displacement=30)]
    poison = [POISON[i % len(POISON)] for i in range(max(1, jobs // 50))]
    for body in poison:
        bodies.insert(rng.randrange(len(bodies)), body)
    return runs, bodies


def reference(runs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Each job as the tracker records its run's messages delivered once, in order."""
    store = MemoryJobStore()
    tracker = BatchTracker(store, CompletionRule())
    for run in runs:
        for number, message in enumerate(run):
            tracker.track([InboundMessage(f"{number}", json.dumps(message), float(message["time"]))])
    job_ids = {run[0]["jobId"] for run in runs}
    return {job_id: loaded.job for job_id, loaded in store.get_jobs(job_ids).items()}


def chaos(  # noqa: PLR0917 - the command line's options, in its order
    jobs: int = 300,
    workers: int = 4,
    duplicates: float = 0.2,
    seed: int = 7,
    faults: FaultPlan | None = None,
    engine: bool = True,
) -> ChaosReport:
    plan = faults or FaultPlan()
    # A killed invocation is logged with its traceback by the event source: expected here.
    logging.getLogger("local.event_source").setLevel(os.environ.get("CHAOS_LOG_LEVEL", "CRITICAL"))
    with embedded_aws() as aws:
        with tempfile.TemporaryDirectory() as workdir:
            recorded = engine_runs(aws.client("s3"), Path(workdir)) if engine else []
        runs, bodies = build(jobs, duplicates, seed, recorded)
        expected = reference(runs)
        started = time.monotonic()
        sqs = aws.client("sqs")
        create_jobs_table(aws.client("dynamodb"), TABLE)
        queue_url, dlq_url = create_queue_with_dlq(sqs, QUEUE, visibility_timeout=VISIBILITY, max_receives=5)
        with environment(
            **{
                env.JOBS_TABLE_NAME: TABLE,
                env.DYNAMODB_ENDPOINT: aws.endpoint,
                env.POWERTOOLS_SERVICE_NAME: "chaos",
                env.POWERTOOLS_METRICS_NAMESPACE: "Chaos",  # as deployed: metrics flush at 100 values
                env.POWERTOOLS_LOG_LEVEL: os.environ.get("CHAOS_LOG_LEVEL", "CRITICAL"),
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        ):
            from functions.tracker import handler as tracker_handler  # noqa: PLC0415 - after the environment

            binding = TableBinding(TABLE, aws.region, aws.endpoint)
            mortal = MortalStore(DynamoJobStore(binding), plan.kill, seed)
            tracker = BatchTracker(cast(JobStore, mortal), CompletionRule())
            # The handler as deployed, on a store whose invocations may die.
            with mock.patch.object(tracker_handler, "_tracker", return_value=tracker):
                sources = [
                    SqsEventSource(
                        sqs,
                        queue_url,
                        surviving(dropping_disabled_metrics(tracker_handler.handler)),
                        batch_size=10,
                        function_name=f"tracker-{n}",
                    )
                    for n in range(workers)
                ]
                aws.faults.inject(plan)
                _consume(sqs, queue_url, sources, bodies)
                aws.faults.inject(FaultPlan())
            store = DynamoJobStore(binding)
            actual = {job_id: loaded.job for job_id, loaded in store.get_jobs(list(expected)).items()}
        dead = []
        while messages := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []):
            dead += [m["Body"] for m in messages]
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        waiting, copies, without_expiry = _parked_items(aws.client("dynamodb"))
    report = ChaosReport(
        jobs=jobs + len(recorded),
        engine_jobs={run[0]["jobId"]: expected[run[0]["jobId"]].status.value for run in recorded},
        messages=len(bodies),
        duplicates=len(bodies) - sum(len(r) for r in runs) - max(1, jobs // 50),
        poison=max(1, jobs // 50),
        workers=workers,
        seconds=time.monotonic() - started,
        dead_letters=len(dead),
        unexpected_dead_letters=[body for body in dead if body not in POISON],
        parked_left=waiting,
        parked_copies=copies,
        copies_without_expiry=without_expiry,
        invocations=sum(s.stats.invocations for s in sources),
        failed_invocations=sum(s.stats.errors for s in sources),
        faults={**aws.faults.injected, "killed_invocations": mortal.kills} if plan.any else {},
    )
    report.mismatched = [job_id for job_id, job in expected.items() if actual.get(job_id) != job]
    return report


def _parked_items(dynamodb: Any) -> tuple[int, int, int]:
    """The parked items left in the table: (whose run is not linked, whose run is linked, copies
    without an expiry)."""
    items = dynamodb.scan(
        TableName=TABLE,
        FilterExpression="begins_with(sk, :p)",
        ExpressionAttributeValues={":p": {"S": PARKED_PREFIX}},
    )["Items"]
    linked = set()
    for pk in {item["pk"]["S"] for item in items}:
        key = {"pk": {"S": pk}, "sk": {"S": LINK_SK}}
        if "jobId" in dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item", {}):
            linked.add(pk)
    copies = [item for item in items if item["pk"]["S"] in linked]
    return len(items) - len(copies), len(copies), sum("expiresAt" not in item for item in copies)


def _consume(sqs: Any, queue_url: str, sources: list[SqsEventSource], bodies: list[str]) -> None:
    """Send the stream as a busy stack does, over time (at most ``BACKLOG`` messages waiting), while
    the pollers consume it concurrently; stop once all is sent and the queue stayed empty for 3 s."""
    stop = threading.Event()

    def poll(source: SqsEventSource) -> None:
        while not stop.is_set():
            if source.poll_once(wait_seconds=1) == 0:
                stop.wait(0.1)

    threads = [threading.Thread(target=poll, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    sent = 0
    idle_since = None
    while True:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        waiting = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        while sent < len(bodies) and waiting < BACKLOG:
            chunk = bodies[sent : sent + 10]
            sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
            )
            sent, waiting = sent + len(chunk), waiting + len(chunk)
        if sent == len(bodies) and waiting == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 3:
                break
        else:
            idle_since = None
        time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", action="store_true", help=f"inject AWS's failures too: {FAULTS}")
    parser.add_argument(
        "--no-engine", action="store_true", help="no recorded engine runs, generated ones only"
    )
    args = parser.parse_args(argv)
    report = chaos(
        args.jobs,
        args.workers,
        args.duplicates,
        args.seed,
        FAULTS if args.faults else None,
        engine=not args.no_engine,
    )
    print(json.dumps({**report.__dict__, "ok": report.ok}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
