"""Run the engine's worker on an input queue: ``python -m engine --queue-url URL``.

AWS settings come from the environment as for any boto3 program (credentials, region,
``AWS_ENDPOINT_URL`` for the local stack's moto server)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

import boto3

from engine.activities import EngineOptions
from engine.sources import InputLimits
from engine.storage import Storage
from engine.worker import Worker
from functions.shared.urls import UrlPolicy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    parser.add_argument("--queue-url", default=os.environ.get("INPUT_QUEUE_URL"), help="the CPE input queue")
    parser.add_argument("--max-jobs", type=int, default=os.cpu_count() or 1, help="jobs run at once")
    parser.add_argument(
        "--progress-interval", type=float, default=10.0, help="seconds between ACTIVITY_PROGRESS"
    )
    parser.add_argument("--encoder-preset", default="medium", help="x264 preset (speed vs size)")
    parser.add_argument(
        "--allow-custom-cmd", action="store_true", help="run jobs' custom_cmd (FFmpeg, no shell)"
    )
    parser.add_argument(
        "--trusted-url-host", action="append", default=[], help="local use: a host:port inputs may be on"
    )
    args = parser.parse_args(argv)
    if not args.queue_url:
        parser.error("--queue-url (or INPUT_QUEUE_URL) is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = EngineOptions(
        allow_custom_cmd=args.allow_custom_cmd,
        encoder_preset=args.encoder_preset,
    )
    policy = UrlPolicy(schemes=frozenset({"http", "https"}), trusted=frozenset(args.trusted_url_host))
    storage = Storage(boto3.client("s3"), InputLimits(http_policy=policy))
    worker = Worker(
        boto3.client("sqs"),
        storage,
        args.queue_url,
        options=options,
        max_jobs=args.max_jobs,
        progress_interval=args.progress_interval,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.run(stop)


if __name__ == "__main__":
    main()
