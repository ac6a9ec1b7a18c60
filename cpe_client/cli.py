"""``python -m cpe_client``: the job API from the command line.

The endpoint comes from --endpoint, else CPE_API_URL, else the ApiUrl output of the stack named by
--stack (CloudFormation). Requests are SigV4-signed with the environment's AWS credentials, or
carry --token (CPE_API_TOKEN) for auth mode jwt. Output is JSON, except for `watch`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

from cpe_client.client import ApiError, ClientError, JobsClient, UploadRefused, endpoint_from_stack
from cpe_client.progress import ProgressView


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cpe-client", description=__doc__)
    parser.add_argument("--endpoint", default=os.environ.get("CPE_API_URL"), help="the API's base URL")
    parser.add_argument("--stack", default="CpeServerless", help="stack whose ApiUrl output to use")
    parser.add_argument("--region", default=None)
    parser.add_argument("--token", default=os.environ.get("CPE_API_TOKEN"), help="a JWT (auth mode jwt)")
    commands = parser.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="submit a job (a JSON file, or - for stdin)")
    submit.add_argument("file")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--watch", action="store_true", help="then follow it to the end")
    upload = commands.add_parser("upload", help="upload a file; prints the input_asset a job names")
    upload.add_argument("file")
    upload.add_argument("--content-type", help="else guessed from the file's name")
    webhook = commands.add_parser("webhook", help="your webhook: where your jobs' events go")
    webhook.add_argument("action", choices=["get", "set", "rotate", "delete"])
    webhook.add_argument("url", nargs="?", help="for set: the https URL")
    get = commands.add_parser("get", help="a job")
    get.add_argument("job_id")
    get.add_argument("--include", choices=["results"])
    listing = commands.add_parser("list", help="jobs, newest first")
    listing.add_argument("--status")
    listing.add_argument("--owner", help="an operator's: this owner's jobs (an ARN or a claim value)")
    listing.add_argument("--created-after", help="RFC 3339, inclusive")
    listing.add_argument("--created-before", help="RFC 3339, exclusive")
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
    adopt = commands.add_parser(
        "adopt",
        help="link jobs in flight when the tracker takes over from the PHP poller (docs/migrating.md)",
    )
    adopt.add_argument(
        "file", help="JSON Lines: jobId, runId, workflowId, input, scheduledAt, messages (- for stdin)"
    )
    adopt.add_argument("--output-queue-url", help="else the stack's OutputQueueUrl output")
    adopt.add_argument(
        "--no-check", action="store_true", help="skip asking the API that each job is new to it"
    )
    return parser


def _stack_outputs(stack: str, region: str | None = None) -> dict[str, str]:
    try:
        import boto3  # noqa: PLC0415 - only for the commands that read the stack (the [aws] extra)
    except ImportError:
        raise ClientError("reading the stack's outputs needs boto3: pip install 'cpe-client[aws]'") from None
    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}


def _adopt(args: argparse.Namespace) -> int:
    import botocore.session  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415
    from botocore.exceptions import ClientError as AwsError  # noqa: PLC0415

    from cpe_client.adopt import adopt, read_in_flight  # noqa: PLC0415

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        raise ClientError(f"cannot read {args.file}: {error.strerror}") from None
    jobs = read_in_flight(data.splitlines())
    tracked = None
    if not args.no_check:
        try:
            client = JobsClient(_endpoint(args), region=args.region, token=args.token)
        except ClientError as error:
            raise ClientError(f"{error} (or --no-check: adopt without asking the API)") from None
        tracked = partial(_tracked, client)
    try:
        queue_url = args.output_queue_url or _stack_outputs(args.stack, args.region)["OutputQueueUrl"]
        sqs = botocore.session.get_session().create_client("sqs", region_name=args.region)
        sent = adopt(sqs, queue_url, jobs, tracked=tracked)
    except (BotoCoreError, AwsError, KeyError) as error:
        raise ClientError(
            f"not all adopted ({error}); adopt the file again: duplicates change nothing"
        ) from None
    print(json.dumps({"adopted": len(jobs), "messagesSent": sent}))
    return 0


def _tracked(client: JobsClient, job_id: str) -> str | None:
    """The run the API's job follows ("" before any), None if it has no such job (an operator
    sees every job; others, their own)."""
    try:
        return str(client.get(job_id).get("runId") or "")
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def _replay(stack: str, job_id: str | None) -> int:
    import boto3  # noqa: PLC0415 - only for this command

    from cpe_client.replay import replay_webhooks  # noqa: PLC0415

    outputs = _stack_outputs(stack)
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


def _webhook(client: JobsClient, action: str, url: str | None) -> Any:
    if action == "set":
        if not url:
            raise ClientError("webhook set needs the URL")
        return client.set_webhook(url)
    if action == "rotate":
        return client.rotate_webhook_secret()
    if action == "delete":
        client.delete_webhook()
        return {"deleted": True}
    return client.get_webhook()


def _job(file: str) -> Any:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientError(f"cannot read the job file {file}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ClientError(f"the job file {file} is not JSON: {exc}") from exc


def _endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return str(args.endpoint)
    try:
        found = endpoint_from_stack(args.stack)
    except Exception as exc:  # any failure to look it up comes to the same advice
        raise ClientError(
            f"no endpoint: pass --endpoint or set CPE_API_URL (stack {args.stack!r} not read: {exc})"
        ) from exc
    if not found:
        raise ClientError(f"no endpoint: the stack {args.stack!r} has no ApiUrl output; pass --endpoint")
    return found


def _command(args: argparse.Namespace) -> int:
    if args.command == "replay-webhooks":
        return _replay(args.stack, args.job)
    if args.command == "adopt":
        return _adopt(args)
    job = _job(args.file) if args.command == "submit" else None
    client = JobsClient(_endpoint(args), region=args.region, token=args.token)
    result: Any
    if args.command == "submit":
        result = client.submit(job, idempotency_key=args.idempotency_key)  # type: ignore[arg-type]
        if args.watch:
            print(json.dumps(result, indent=2), flush=True)
            return _watch(client, result["jobId"], 1.0)
    elif args.command == "upload":
        result = client.upload(args.file, content_type=args.content_type)
    elif args.command == "webhook":
        result = _webhook(client, args.action, args.url)
    elif args.command == "get":
        result = client.get(args.job_id, include=args.include)
    elif args.command == "list":
        result = client.list(
            status=args.status,
            owner=args.owner,
            created_after=args.created_after,
            created_before=args.created_before,
            limit=args.limit,
            next_token=args.next_token,
        )
    elif args.command == "events":
        result = client.events(args.job_id, limit=args.limit, next_token=args.next_token)
    elif args.command == "watch":
        return _watch(client, args.job_id, args.interval)
    else:
        result = client.cancel(args.job_id)
    print(json.dumps(result, indent=2))
    return 0


def run(argv: list[str] | None = None) -> int:
    """The command line: 0 done, 1 the API answered an error (its JSON on stderr), 2 a mistake or
    the API unreachable (one line on stderr)."""
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except (ApiError, UploadRefused) as error:
        document = {
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "details": getattr(error, "details", None),
        }
        print(json.dumps(document), file=sys.stderr)
        return 1
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and let the interpreter's final flush of
        # stdout go nowhere instead of raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def main() -> None:
    """The ``cpe-client`` command (``pip install ./cpe_client``)."""
    sys.exit(run())
