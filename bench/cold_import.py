"""Cold import of each Lambda handler, next to a bare ``import boto3``, in fresh processes.

    python -m bench.cold_import [--rounds 10]

The handlers are imported from a bundle built like the Lambda asset (infra.bundling: the pinned
dependencies, the functions, bytecode compiled), for this machine's Python and platform; boto3 and
botocore come from the environment, as the Lambda runtime provides them, precompiled. Each round
runs every candidate once, in a new interpreter, in an interleaved order, so that the machine's
noise hits them alike; the table gives the median over the rounds. "import + first use" also builds
what the handler builds on its first request (settings, the AWS SDK clients, the store), without
sending anything: the part of a cold start the import alone does not show.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra.bundling import build_bundle

ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "JOBS_TABLE_NAME": "bench-jobs",
    "INPUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-input",
    "OUTPUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-output",
    "CLIENT_NAME": "BenchClient",
}

CANDIDATES = {
    "bare interpreter": "pass",
    "import boto3 (baseline)": "import boto3",
    "API handler: import": "import functions.api.handler",
    "API handler: import + first use": "import functions.api.handler as h; h._service()",
    "tracker handler: import": "import functions.tracker.handler",
    "tracker handler: import + first use": "import functions.tracker.handler as h; h._tracker()",
    "authorizer handler: import": "import functions.authorizer.handler",
}


def run_once(statement: str, bundle: Path) -> float:
    environment = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(bundle), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our own interpreter, fixed statements
        [sys.executable, "-c", statement], check=True, env=environment, capture_output=True, cwd=bundle
    )
    return (time.perf_counter() - started) * 1000


def local_bundle(directory: Path) -> Path:
    """The Lambda asset's contents, for this interpreter and machine."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_bundle(
        directory,
        platform=f"manylinux2014_{platform.machine()}",
        python_version=version,
        compile_with=sys.executable,
    )
    return directory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cold-import-") as directory:
        bundle = local_bundle(Path(directory))
        for statement in CANDIDATES.values():
            run_once(statement, bundle)  # warm the file cache, outside the measurements
        samples: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        rng = random.Random(0)
        for _ in range(args.rounds):
            order = list(CANDIDATES.items())
            rng.shuffle(order)
            for name, statement in order:
                samples[name].append(run_once(statement, bundle))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["import boto3 (baseline)"]
    python = sys.version.split()[0]
    print(f"cold import, median of {args.rounds} fresh processes each (interleaved); Python {python}")
    print()
    print("| what | median ms | x import boto3 |")
    print("|---|---:|---:|")
    for name, median in medians.items():
        print(f"| {name} | {median:.0f} | {median / baseline:.2f} |")
    ratio = medians["API handler: import"] / baseline
    print()
    verdict = "met" if ratio <= 1.5 else "NOT met"
    print(f"target API handler import <= 1.5x import boto3: {ratio:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
