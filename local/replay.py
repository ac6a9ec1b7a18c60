"""Replay a CPE output stream through the real tracker handler against embedded AWS (moto).

    python -m local.replay [--stream FILE] [--batch-size N] [--json]

Sends every line of the stream (default: the bundled sample) to a local output queue, lets the
local SQS event source feed the tracker Lambda handler until the queue is empty (failed messages
are retried and, after 5 receives, dead-lettered, as on AWS), then prints each job record and the
dead-lettered messages with the reason they could not be applied. Exit code 0 when every job ended
as the sample expects (or, for another stream, every job ended) and only poison is dead-lettered.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from functions import env
from functions.jobs.errors import PoisonMessage
from functions.jobs.model import Job
from functions.jobs.protocol import parse_output_message
from functions.store.base import TableBinding
from functions.store.dynamo import DynamoJobStore
from local.ct_simulator import expected_status
from local.embedded import embedded_aws, environment
from local.event_source import SqsEventSource, dropping_disabled_metrics
from local.resources import create_jobs_table, create_queue_with_dlq
from local.samples import RUNS, SAMPLE

TABLE = "cpe-jobs"
QUEUE = "cpe-output"
# Shortened from the stack's 181 s so that retries (and dead-lettering) happen within seconds.
LOCAL_VISIBILITY_TIMEOUT = 1
MAX_RECEIVES = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stream", type=Path, default=SAMPLE, help="one SQS message body per line")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the full job records as JSON")
    parser.add_argument("--verbose", action="store_true", help="show the handler's logs and metrics")
    args = parser.parse_args(argv)
    lines = [line for line in args.stream.read_text(encoding="utf-8").splitlines() if line.strip()]

    with (
        embedded_aws() as aws,
        environment(
            **{
                env.JOBS_TABLE_NAME: TABLE,
                env.DYNAMODB_ENDPOINT: aws.endpoint,
                env.POWERTOOLS_SERVICE_NAME: "tracker",
                env.POWERTOOLS_LOG_LEVEL: "WARNING" if args.verbose else "CRITICAL",
                "POWERTOOLS_METRICS_DISABLED": "false" if args.verbose else "true",
            }
        ),
    ):
        from functions.tracker.handler import handler  # noqa: PLC0415 - after the environment is set

        sqs = aws.client("sqs")
        create_jobs_table(aws.client("dynamodb"), TABLE)
        queue_url, dlq_url = create_queue_with_dlq(
            sqs, QUEUE, visibility_timeout=LOCAL_VISIBILITY_TIMEOUT, max_receives=MAX_RECEIVES
        )
        for start in range(0, len(lines), 10):
            sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": body} for i, body in enumerate(lines[start : start + 10])
                ],
            )
        print(f"sent {len(lines)} messages from {args.stream} to the local output queue", file=sys.stderr)

        source = SqsEventSource(
            sqs,
            queue_url,
            dropping_disabled_metrics(handler),
            batch_size=args.batch_size,
            function_name="tracker",
        )
        began = time.monotonic()
        while _messages_left(sqs, queue_url):
            source.drain()
            time.sleep(LOCAL_VISIBILITY_TIMEOUT / 4)
        stats = source.stats
        print(
            f"tracker: {stats.invocations} invocations, {stats.received} deliveries, {stats.failed} failed "
            f"deliveries, {time.monotonic() - began:.1f} s",
            file=sys.stderr,
        )

        store = DynamoJobStore(TableBinding(TABLE, aws.region, aws.endpoint))
        job_ids = sorted(_job_ids(lines))
        jobs = {job_id: loaded.job for job_id, loaded in store.get_jobs(job_ids).items()}
        dead = _dead_letters(sqs, dlq_url)

    if args.json:
        print(json.dumps([job.model_dump(mode="json") for job in jobs.values()], indent=2))
    else:
        for job in jobs.values():
            print(_describe(job))
        print(f"dead-lettered ({len(dead)}):")
        for reason, body in dead:
            print(f"  {reason}: {body[:70]!r}")
    return 0 if _as_expected(args.stream, jobs, dead) else 1


def _messages_left(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _job_ids(lines: list[str]) -> set[str]:
    ids = set()
    for line in lines:
        try:
            message = parse_output_message(line, 0)
        except PoisonMessage:
            continue
        if message.job_id:
            ids.add(message.job_id)
    return ids


def _dead_letters(sqs: Any, dlq_url: str) -> list[tuple[str, str]]:
    dead = []
    while messages := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            try:
                parse_output_message(message["Body"], 0)
                reason = "APPLICABLE (dead-lettered after repeated failures)"
            except PoisonMessage as exc:
                reason = str(exc)
            dead.append((reason, message["Body"]))
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return dead


def _as_expected(stream: Path, jobs: dict[str, Job], dead: list[tuple[str, str]]) -> bool:
    poison_only = all(not reason.startswith("APPLICABLE") for reason, _ in dead)
    if stream.resolve() == SAMPLE:
        expected = {run.job_id: expected_status(run) for run in RUNS}
        return poison_only and {job_id: job.status.value for job_id, job in jobs.items()} == expected
    return poison_only and all(job.status.is_terminal for job in jobs.values())


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S") if at else "-"


def _describe(job: Job) -> str:
    lines = [
        f"job {job.jobId}  {job.status.value:<9} {job.progress:>3}%  phase {job.phase.value:<11} "
        f"client {job.clientName}  runs {len(job.runs)}"
    ]
    if job.probe:
        fmt = job.probe.get("format", {})
        described = ", ".join(
            f"{s.get('codec_type')}:{s.get('codec_name')}"
            + (f" {s['width']}x{s['height']}" if "width" in s else "")
            for s in job.probe.get("streams", [])
        )
        lines.append(f"  probe    {job.probe.get('mime')}  {fmt.get('duration')} s  {described}")
    for run in job.runs.values():
        for activity in sorted(
            run.activities.values(), key=lambda a: (min(a.milestones.values(), default=0.0), a.activityId)
        ):
            lines.append(
                f"  {activity.activityId:<20} {activity.activityType or '?':<15} {activity.status.value:<10}"
                f"{activity.progress:>4}%  {_when(activity.startedAt)} -> {_when(activity.finishedAt)}"
            )
    for output in job.outputs:
        where = output.get("key") or output.get("file") or "?"
        streams: list[dict[str, Any]] = output.get("probe", {}).get("streams", [])
        video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
        lines.append(f"  output   {where}  {video.get('width', '?')}x{video.get('height', '?')}")
    if job.error:
        lines.append(f"  error    {job.error.get('reason')}: {job.error.get('details')}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
