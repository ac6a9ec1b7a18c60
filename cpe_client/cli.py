"""``python -m cpe_client``: the job API from the command line.

The endpoint comes from --endpoint, else CPE_API_URL, else the ApiUrl output of the stack named by
--stack (CloudFormation). Requests are SigV4-signed with the environment's AWS credentials, or
carry --token (CPE_API_TOKEN) for auth mode jwt. Output is JSON, except for `watch`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cpe_client.client import ApiError, JobsClient, endpoint_from_stack
from cpe_client.progress import ProgressView


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cpe_client", description=__doc__)
    parser.add_argument("--endpoint", default=os.environ.get("CPE_API_URL"), help="the API's base URL")
    parser.add_argument("--stack", default="CpeServerless", help="stack whose ApiUrl output to use")
    parser.add_argument("--region", default=None)
    parser.add_argument("--token", default=os.environ.get("CPE_API_TOKEN"), help="a JWT (auth mode jwt)")
    commands = parser.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="submit a job (a JSON file, or - for stdin)")
    submit.add_argument("file")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--watch", action="store_true", help="then follow it to the end")
    get = commands.add_parser("get", help="a job")
    get.add_argument("job_id")
    get.add_argument("--include", choices=["results"])
    listing = commands.add_parser("list", help="jobs, newest first")
    listing.add_argument("--status")
    listing.add_argument("--limit", type=int)
    listing.add_argument("--next-token")
    events = commands.add_parser("events", help="a job's timeline")
    events.add_argument("job_id")
    events.add_argument("--limit", type=int)
    events.add_argument("--next-token")
    watch = commands.add_parser("watch", help="progress bars until the job ends")
    watch.add_argument("job_id")
    watch.add_argument("--interval", type=float, default=1.0)
    cancel = commands.add_parser("cancel", help="ask to cancel a job")
    cancel.add_argument("job_id")
    replay = commands.add_parser("replay-webhooks", help="re-send webhooks parked in the DLQ (stack outputs)")
    replay.add_argument("--job", help="only this job's")
    return parser


def _replay(stack: str, job_id: str | None) -> int:
    import boto3  # noqa: PLC0415 - only for this command

    from cpe_client.replay import replay_webhooks  # noqa: PLC0415

    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    moved = replay_webhooks(
        boto3.client("sqs"), outputs["WebhookDeadLetterQueueUrl"], outputs["WebhookQueueUrl"], job_id=job_id
    )
    print(json.dumps({"replayed": moved}))
    return 0


def _watch(client: JobsClient, job_id: str, interval: float) -> int:
    view = ProgressView()
    job = client.watch(job_id, interval=interval, on_update=view.update)
    if job.get("error"):
        print(json.dumps(job["error"]), file=sys.stderr)
    return 0 if job["status"] == "COMPLETED" else 1


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay-webhooks":
        return _replay(args.stack, args.job)
    endpoint = args.endpoint or endpoint_from_stack(args.stack)
    if not endpoint:
        print("error: no endpoint (--endpoint, CPE_API_URL, or a deployed stack's ApiUrl)", file=sys.stderr)
        return 2
    client = JobsClient(endpoint, region=args.region, token=args.token)
    try:
        result: Any
        if args.command == "submit":
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
            result = client.submit(json.loads(text), idempotency_key=args.idempotency_key)
            if args.watch:
                print(json.dumps(result, indent=2))
                return _watch(client, result["jobId"], 1.0)
        elif args.command == "get":
            result = client.get(args.job_id, include=args.include)
        elif args.command == "list":
            result = client.list(status=args.status, limit=args.limit, next_token=args.next_token)
        elif args.command == "events":
            result = client.events(args.job_id, limit=args.limit, next_token=args.next_token)
        elif args.command == "watch":
            return _watch(client, args.job_id, args.interval)
        else:
            result = client.cancel(args.job_id)
    except ApiError as error:
        print(
            json.dumps(
                {
                    "status": error.status,
                    "code": error.code,
                    "message": error.message,
                    "details": error.details,
                }
            ),
            file=sys.stderr,
        )
        return 1
    print(json.dumps(result, indent=2))
    return 0
