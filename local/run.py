"""The main job: the whole pipeline on this machine, with a real sample job.

    python -m local.run            # start the local stack, run the sample job, print a summary
    python -m local.run --serve    # start it and the jobs console, and keep them running

Starts moto as AWS, deploys the synthesized stack into it, serves the job API on localhost (SigV4,
as on AWS), and runs the tracker, the notifier and the engine's Lambda handlers through the
template's event source mappings. Then it makes a 40 s sample video, uploads it to the stack's media
bucket, submits a job with an MP4 rendition, HLS, thumbnails and an audio track through the HTTP
API, shows progress bars until the job ends (the two renditions are made in 10 s spans, encoded
side by side, then joined), downloads the outputs and prints a summary. Exit code 0 only if the job
completed.
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import signal
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from cpe_client.client import JobsClient
from cpe_client.progress import ProgressView
from engine.state_dynamo import DynamoEngineState
from local import sample_media
from local.console import OPERATOR, ConsoleStack, console_stack
from local.stack import LocalStack, local_stack

SAMPLE_SECONDS = 40
CONSOLE_PORT, ISSUER_PORT = 8410, 8411
SAMPLE_SIZE = (854, 480)  # three rungs of the adaptive package: 480p, 360p, 240p
# The engine as make run runs it: spans short enough that the sample is made in four.
SAMPLE_ENGINE = {"SPAN_SECONDS": "10", "SEGMENT_AFTER_SECONDS": "20"}


def sample_job(upload: dict[str, Any]) -> dict[str, Any]:
    """The sample job on an upload (``POST /uploads``'s answer): its outputs under the caller's
    outputs prefix of the media bucket."""
    source = upload["input_asset"]
    output = {"bucket": source["bucket"]}
    at = upload["output_prefix"]
    return {
        "input_asset": source,
        "output_assets": [
            {
                **output,
                "type": "VIDEO",
                "file": f"{at}sample/360p/sample.mp4",
                "preset": "360p-16.9-generic",
            },
            {
                **output,
                "type": "VIDEO",
                "file": f"{at}sample/hls/sample.m3u8",
                "preset": "hls400k-generic",
            },
            {
                **output,
                "type": "THUMB",
                "file": f"{at}sample/thumbs/sample.jpg",
                "mode": "intervals",
                "intervals": 4,
            },
            {**output, "type": "AUDIO", "file": f"{at}sample/audio/sample.m4a"},
            {**output, "type": "STORYBOARD", "file": f"{at}sample/storyboard/storyboard.vtt"},
            {**output, "type": "ADAPTIVE", "file": f"{at}sample/abr/master.m3u8"},
        ],
    }


def _seconds(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "-"
    return f"{(datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds():.1f} s"


def summary(job: dict[str, Any], downloaded: list[Path]) -> str:
    took = _seconds(job["createdAt"], job["updatedAt"])
    lines = ["", f"job {job['jobId']}: {job['status']} ({job['phase']}, {job['progress']}%) in {took}"]
    if job.get("error"):
        lines.append(f"  error: {json.dumps(job['error'])}")
    probe = job.get("probe") or {}
    if probe:
        streams = ", ".join(
            f"{s.get('codec_type')} {s.get('codec_name')}"
            + (f" {s.get('width')}x{s.get('height')}" if s.get("width") else "")
            for s in probe.get("streams", [])
        )
        lines.append(f"  input: {probe.get('format', {}).get('duration', '?')} s, {streams}")
    for activity in job.get("activities", []):
        took = _seconds(activity["startedAt"], activity["finishedAt"])
        lines.append(f"  {activity['activityId']:<22} {activity['status']:<10} {took}")
    if downloaded:
        lines.append("  outputs (downloaded):")
        lines += [f"    {path}  ({path.stat().st_size:,} bytes)" for path in downloaded]
    return "\n".join(lines)


def download_outputs(stack: LocalStack, job: dict[str, Any], folder: Path) -> list[Path]:
    s3 = stack.aws.client("s3")
    paths = []
    for output in job.get("outputs", []):
        if "bucket" in output and "key" in output:
            target = folder / output["key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(output["bucket"], output["key"], str(target))
            paths.append(target)
    return paths


def engine_parts(stack: LocalStack, job: dict[str, Any]) -> dict[str, str]:
    """What the engine made each output of (its state): spans and audio, or one task."""
    state = DynamoEngineState(stack.aws.client("dynamodb"), stack.outputs["EngineStateTableName"], time.time)
    steps = [activity["activityId"] for activity in job.get("activities", [])[1:]]
    described = {}
    for n, step in enumerate(steps):
        names = state.parts(job["runId"], n).parts
        spans = sum(1 for name in names if name.startswith("span-"))
        renditions = sum(1 for name in names if name.startswith("rendition-"))
        audio = " + audio" if "audio" in names else ""
        joined = f"{renditions} renditions packaged apart, manifests" if renditions else "joined"
        described[step] = f"{spans} spans{audio}, {joined}" if spans else "one task"
    return described


class WebhookReceiver:
    """A webhook endpoint on localhost, verifying each delivery as a receiver would (the
    standardwebhooks package, with the stack's signing secret)."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.rejected = 0
        self.secret: str | None = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = Webhook(receiver.secret or "").verify(body, dict(self.headers))
                except Exception:  # noqa: BLE001 - any failure to verify is a rejection
                    receiver.rejected += 1
                    self.send_response(401)
                else:
                    receiver.deliveries.append(event)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run_sample(stack: LocalStack, out_dir: Path, timeout: float, receiver: WebhookReceiver) -> int:
    if stack.webhook_secret_arn:
        secret = stack.aws.client("secretsmanager").get_secret_value(SecretId=stack.webhook_secret_arn)
        receiver.secret = secret["SecretString"]
    with tempfile.TemporaryDirectory(prefix="cpe-sample-") as work:
        video = sample_media.video(
            Path(work) / "sample.mp4", seconds=SAMPLE_SECONDS, size=SAMPLE_SIZE, preset="veryfast"
        )
        client = JobsClient(stack.api_url, region=stack.aws.region)
        upload = client.upload(video)  # through the API's presigned form, as a browser would
    submitted = client.submit(sample_job(upload), idempotency_key="sample-job")
    print(f"submitted {submitted['jobId']} through {stack.api_url}jobs\n")
    job = client.watch(submitted["jobId"], interval=0.5, timeout=timeout, on_update=ProgressView().update)
    job = client.get(submitted["jobId"])
    downloaded = download_outputs(stack, job, out_dir / job["jobId"]) if job["status"] == "COMPLETED" else []
    print(summary(job, downloaded))
    for path in downloaded:
        if path.name == "master.m3u8":
            print(f"  adaptive package (HLS master playlist; DASH: master.mpd beside it): {path}")
    print("  engine tasks: " + ", ".join(f"{k}: {v}" for k, v in engine_parts(stack, job).items()))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(e["status"] == job["status"] for e in receiver.deliveries):
        time.sleep(0.2)
    events = sorted(receiver.deliveries, key=lambda e: e["sequence"])
    print(
        f"  webhooks: {len(events)} signed events verified at {receiver.url} ({receiver.rejected} rejected): "
        + " -> ".join(f"{e['status']} {e['progress']}%" for e in events)
    )
    return 0 if job["status"] == "COMPLETED" else 1


def serve(served: ConsoleStack) -> int:
    stack, console, issuer = served.stack, served.console, served.issuer
    token = issuer.token("developer", client_id="cpe-cli", lifetime=12 * 3600)
    outputs = "\n".join(
        f"  {k:<26} {v}" for k, v in sorted(stack.outputs.items()) if not k.startswith(("Api", "Dashboard"))
    )
    print(
        f"""The local stack is running (Ctrl-C stops it).

  console                    {console.url}  (sign in with any name; "{OPERATOR}" sees every job)
  API                        {stack.api_url}  (auth mode jwt: a bearer token of the local issuer)
  issuer                     {issuer.url}
  AWS endpoint (moto)        {stack.aws.endpoint}  (region {stack.aws.region}, any keys)
{outputs}

Try (the token is the owner "developer"'s, for 12 hours):
  export CPE_API_TOKEN={token}
  .venv/bin/python -m cpe_client --endpoint {stack.api_url} list
  aws --endpoint-url {stack.aws.endpoint} dynamodb scan --table-name {stack.outputs["JobsTableName"]}""",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--serve", action="store_true", help="keep the stack running instead of running the sample"
    )
    parser.add_argument("--port", type=int, default=0, help="the API's port (default: any free one)")
    parser.add_argument(
        "--console-port",
        type=int,
        default=CONSOLE_PORT,
        help="--serve: the console's port (a browser origin)",
    )
    parser.add_argument(
        "--issuer-port", type=int, default=ISSUER_PORT, help="--serve: the local sign-in issuer's port"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("local-outputs"), help="where the sample's outputs go"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the sample job")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    print(
        "starting the local stack (moto, the synthesized template, the handlers, the engine)...", flush=True
    )
    receiver = WebhookReceiver()
    options: dict[str, Any] = {
        "port": args.port,
        "webhook_urls": [receiver.url],
        "engine_settings": SAMPLE_ENGINE,
    }
    if args.serve:
        # Fixed ports: the console's origin and the issuer are in the template, which stays cached.
        with console_stack(console_port=args.console_port, issuer_port=args.issuer_port, **options) as served:
            print(f"ready in {time.monotonic() - started:.1f} s\n", flush=True)
            code = serve(served)
    else:
        with local_stack(**options) as stack:
            print(f"ready in {time.monotonic() - started:.1f} s\n", flush=True)
            code = run_sample(stack, args.out, args.timeout, receiver)
    print(f"\ntotal {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
