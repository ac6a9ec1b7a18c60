"""End-to-end latency of the sample job (`make run`'s): from the API's answer to the submit until a
client polling every 0.2 s sees COMPLETED, on the local stack. The baseline, from the same job: the
engine's own work (its first activity's start to its last activity's end, as the job records them).
The difference is the pipeline: queues, tracker, table, API, polling.

    python -m bench.latency [--jobs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cpe_client.client import JobsClient
from local import sample_media
from local.run import SAMPLE_ENGINE, SAMPLE_SECONDS, SAMPLE_SIZE, sample_job
from local.stack import local_stack

POLL_SECONDS = 0.2


def _engine_seconds(job: dict[str, Any]) -> float:
    starts = [datetime.fromisoformat(a["startedAt"]) for a in job["activities"] if a.get("startedAt")]
    ends = [datetime.fromisoformat(a["finishedAt"]) for a in job["activities"] if a.get("finishedAt")]
    return (max(ends) - min(starts)).total_seconds()


def measure(jobs: int) -> list[tuple[float, float]]:
    """(submit -> COMPLETED seen, engine work) in seconds, per job, one job at a time."""
    samples = []
    with local_stack(engine_settings=SAMPLE_ENGINE) as stack:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as work:
            video = sample_media.video(
                Path(work) / "s.mp4", seconds=SAMPLE_SECONDS, size=SAMPLE_SIZE, preset="veryfast"
            )
            client = JobsClient(stack.api_url, region=stack.aws.region)
            upload = client.upload(video)
        for _ in range(jobs):
            submitted = client.submit(sample_job(upload))
            began = time.monotonic()
            job = client.watch(submitted["jobId"], interval=POLL_SECONDS, timeout=300)
            seen = time.monotonic() - began
            if job["status"] != "COMPLETED":
                raise RuntimeError(f"the sample job ended {job['status']}: {job.get('error')}")
            samples.append((seen, _engine_seconds(client.get(submitted["jobId"]))))
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args(argv)
    samples = measure(args.jobs)
    latency = statistics.median(s for s, _ in samples)
    engine = statistics.median(e for _, e in samples)
    print(
        f"sample job ({SAMPLE_SECONDS} s {SAMPLE_SIZE[0]}x{SAMPLE_SIZE[1]} clip -> 360p, HLS 400k and a "
        "three-rung adaptive package in spans, thumbnails, AAC, a storyboard), "
        f"median of {args.jobs}"
    )
    print()
    print("| what | median s | x engine work |")
    print("|---|---:|---:|")
    print(f"| engine work: first activity start -> last activity end (baseline) | {engine:.2f} | 1.00 |")
    print(
        f"| submit answered -> COMPLETED seen by a client polling every {POLL_SECONDS} s | {latency:.2f} | "
        f"{latency / engine:.2f} |"
    )
    print()
    overhead = latency - engine
    print(
        f"goal (this report's, no issue set one) pipeline overhead <= 2 s: {overhead:.2f} s "
        f"({'met' if overhead <= 2 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
