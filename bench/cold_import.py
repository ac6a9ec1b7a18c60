"""Cold import of each Lambda handler, next to a bare ``import boto3``, in fresh processes.

    python -m bench.cold_import [--rounds 20]

The handlers are imported from a bundle built like the Lambda asset (infra.bundling: the pinned
dependencies, the functions, bytecode compiled), for this machine's Python and platform; boto3 and
botocore come from the environment, as the Lambda runtime provides them, precompiled. Each round
runs every candidate once, in a new interpreter, in an interleaved order, so that the machine's
noise hits them alike; the table gives the median over the rounds of each process's CPU time (user
+ system, from the kernel's accounting of that child), which other tenants of a shared machine
inflate far less than wall time, and the wall time beside it, up to the end of the statement: the
process then exits at once, skipping the interpreter's finalization, which a Lambda environment
does not run after a request either. An import is CPU-bound, as a Lambda init is (one process, its
own CPU share). "import + first request" also handles a first request
as API Gateway sends it, against a moto server this process runs: a GET of a job (settings, the AWS
SDK clients, the store, a consistent read), and a POST of a job (validation of the CT job, two
conditional writes, a send to SQS): what a caller waits for on a cold start, which the import alone
does not show. The server's work is the server's: the CPU time is the handler's process only.
"""

from __future__ import annotations

import argparse
import io
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
from local.embedded import embedded_aws
from local.resources import create_jobs_table

ROOT = Path(__file__).resolve().parent.parent

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

FIRST_GET = """
import functions.api.handler as h
from local.apigateway import proxy_event
from local.event_source import LambdaContext
event = proxy_event("GET", "/jobs/no-such-job", resource="/jobs/{job_id}")
answer = h.handler(event, LambdaContext(function_name="api"))
assert answer["statusCode"] == 404, answer
"""
FIRST_POST = """
import json
import functions.api.handler as h
from local.apigateway import proxy_event
from local.event_source import LambdaContext
job = {"input_asset": {"type": "VIDEO", "bucket": "media", "file": "/in/clip.mp4"},
       "output_asset": {"type": "VIDEO", "bucket": "media", "file": "/out/clip.mp4", "preset": "720p"}}
event = proxy_event("POST", "/jobs", body=json.dumps(job), headers={"Content-Type": "application/json"})
answer = h.handler(event, LambdaContext(function_name="api"))
assert answer["statusCode"] == 202, answer
"""
# After SnapStart's priming (functions.api.handler.prime, run before the snapshot, which closes the
# connections it opened): the CPU time of the first request alone, connecting again, what a
# restored environment still pays. The restore itself is Lambda's, not measured here.
PRIMED_REQUEST = """
import json, time
import functions.api.handler as h
from local.apigateway import proxy_event
from local.event_source import LambdaContext
h.prime()
job = {{"input_asset": {{"type": "VIDEO", "bucket": "media", "file": "/in/clip.mp4"}},
       "output_asset": {{"type": "VIDEO", "bucket": "media", "file": "/out/clip.mp4", "preset": "720p"}}}}
events = {{
    "GET": proxy_event("GET", "/jobs/no-such-job", resource="/jobs/{{job_id}}"),
    "POST": proxy_event(
        "POST", "/jobs", body=json.dumps(job), headers={{"Content-Type": "application/json"}}
    ),
}}
started = time.process_time()
answer = h.handler(events["{method}"], LambdaContext(function_name="api"))
print("request-cpu-ms", (time.process_time() - started) * 1000)
assert answer["statusCode"] == {status}, answer
"""
# Floors: the least a first GET can cost with the libraries the API uses, whatever our code does.
FLOOR_SDK = """
import botocore.session
client = botocore.session.get_session().create_client("dynamodb")
client.get_item(TableName="bench-jobs", Key={"pk": {"S": "x"}, "sk": {"S": "JOB"}}, ConsistentRead=True)
"""
FLOOR_RESOLVER = """
import botocore.session
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel
from local.apigateway import proxy_event
from local.event_source import LambdaContext
class Job(BaseModel):
    jobId: str
app = APIGatewayRestResolver(enable_validation=True)
client = botocore.session.get_session().create_client("dynamodb")
@app.get("/jobs/<job_id>")
def get(job_id: str) -> Job:
    key = {"pk": {"S": job_id}, "sk": {"S": "JOB"}}
    client.get_item(TableName="bench-jobs", Key=key, ConsistentRead=True)
    return Job(jobId=job_id)
answer = app.resolve(proxy_event("GET", "/jobs/a", resource="/jobs/{job_id}"), LambdaContext())
assert answer["statusCode"] == 200, answer
"""
# The resolver without validation, whose routes take and return plain dicts: no pydantic imported.
FLOOR_ROUTER = """
import botocore.session
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from local.apigateway import proxy_event
from local.event_source import LambdaContext
app = APIGatewayRestResolver()
client = botocore.session.get_session().create_client("dynamodb")
@app.get("/jobs/<job_id>")
def get(job_id: str) -> dict:
    key = {"pk": {"S": job_id}, "sk": {"S": "JOB"}}
    client.get_item(TableName="bench-jobs", Key=key, ConsistentRead=True)
    return {"jobId": job_id}
answer = app.resolve(proxy_event("GET", "/jobs/a", resource="/jobs/{job_id}"), LambdaContext())
assert answer["statusCode"] == 200, answer
"""
# A router of our own at its best: no resolver, no routing, no settings, no logging; only our API
# models, pydantic, and the one model a GET of a missing job answers with, built.
FLOOR_MODELS = """
import botocore.session
from functions.api.models import ErrorBody
client = botocore.session.get_session().create_client("dynamodb")
client.get_item(TableName="bench-jobs", Key={"pk": {"S": "x"}, "sk": {"S": "JOB"}}, ConsistentRead=True)
ErrorBody(code="JOB_NOT_FOUND", message="no such job").model_dump_json()
"""
CANDIDATES = {
    "bare interpreter": "pass",
    "import boto3 (baseline)": "import boto3",
    "API handler: import": "import functions.api.handler",
    "API handler: import + first GET": FIRST_GET,
    "API handler: import + first POST": FIRST_POST,
    "tracker handler: import": "import functions.tracker.handler",
    "tracker handler: import + first use": "import functions.tracker.handler as h; h._tracker()",
    "authorizer handler: import": "import functions.authorizer.handler",
    "floor: botocore, a DynamoDB client, one read": FLOOR_SDK,
    "floor: that + Powertools' REST resolver, no validation, no pydantic": FLOOR_ROUTER,
    "floor: that + validation, one pydantic model": FLOOR_RESOLVER,
    "floor: botocore, one read, our API models, one built (no resolver)": FLOOR_MODELS,
}
# Rows whose CPU time is the one request the statement prints, not the whole process's.
REQUEST_ONLY = {
    "API handler, SnapStart-primed: first GET (the request alone)": PRIMED_REQUEST.format(
        method="GET", status=404
    ),
    "API handler, SnapStart-primed: first POST (the request alone)": PRIMED_REQUEST.format(
        method="POST", status=202
    ),
}
# From the engine's asset (the functions' plus the engine and PyAV, FFmpeg's libraries).
ENGINE_CANDIDATES = {
    "engine tasks handler: import": "import engine.handlers.tasks",
    "engine tasks handler: import + first use": (
        "import engine.handlers.tasks; from engine import runtime; runtime.engine()"
    ),
    "engine commands handler: import": "import engine.handlers.commands",
}
ENGINE_ENVIRONMENT = {
    "ENGINE_TABLE_NAME": "bench-engine",
    "WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-work",
    "WORK_BUCKET": "bench-media",
    "SPAN_SECONDS": "60",
    "SEGMENT_AFTER_SECONDS": "90",
    "MAX_INPUT_BYTES": str(8 * 1024**3),
    "MAX_INPUT_PIXELS": str(8192 * 8192),
    "MAX_INPUT_SECONDS": "21600",
    "DOWNLOAD_SECONDS": "600",
    "ENCODER_PRESET": "medium",
}


# A Lambda environment is not torn down after its first request (only at its shutdown, which no
# caller waits for): each process ends as soon as its statement does, without the interpreter's
# finalization (module teardown, final garbage collections), which costs a loaded interpreter
# hundreds of ms and would count against the handlers as it never does in Lambda.
END_WITHOUT_TEARDOWN = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n"


def run_once(statement: str, bundle: Path, endpoint: str) -> tuple[float, float]:
    """(CPU ms, wall ms) of one fresh interpreter running ``statement``."""
    environment = {
        **os.environ,
        **ENVIRONMENT,
        **ENGINE_ENVIRONMENT,
        "AWS_ENDPOINT_URL": endpoint,
        "DYNAMODB_ENDPOINT": endpoint,
        "SQS_ENDPOINT": endpoint,
        "INPUT_QUEUE_URL": f"{endpoint}/123456789012/bench-input",
        # The handlers from the bundle; the local emulation (proxy events) from this checkout, after.
        "PYTHONPATH": f"{bundle}{os.pathsep}{ROOT}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-c", statement + END_WITHOUT_TEARDOWN]
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed statements
        command, env=environment, cwd=bundle, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    with child.stdout or io.BytesIO() as stream:
        output = stream.read()  # to its end; the child is reaped below (not by Popen) for its usage
    _, status, usage = os.wait4(child.pid, 0)  # the child's own resource usage
    wall = (time.perf_counter() - started) * 1000
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:  # again, to show why
        subprocess.run(command, env=environment, cwd=bundle, check=True, capture_output=True)  # noqa: S603
    reported = [
        line.split()[1] for line in output.decode().splitlines() if line.startswith("request-cpu-ms ")
    ]
    if reported:  # the request alone, timed by the child itself
        return float(reported[-1]), float("nan")
    return (usage.ru_utime + usage.ru_stime) * 1000, wall


def local_bundle(directory: Path, *, engine: bool = False) -> Path:
    """The Lambda asset's contents (with ``engine``, the engine's), for this interpreter and machine."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    directory.mkdir(parents=True, exist_ok=True)
    build_bundle(
        directory,
        platform=f"manylinux2014_{platform.machine()}",
        python_version=version,
        compile_with=sys.executable,
        engine=engine,
    )
    return directory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cold-import-") as directory, embedded_aws() as aws:
        create_jobs_table(aws.client("dynamodb"), ENVIRONMENT["JOBS_TABLE_NAME"])
        aws.client("sqs").create_queue(QueueName="bench-input")
        functions = local_bundle(Path(directory) / "functions")
        engine = local_bundle(Path(directory) / "engine", engine=True)
        candidates = {
            **{name: (statement, functions) for name, statement in CANDIDATES.items()},
            **{name: (statement, functions) for name, statement in REQUEST_ONLY.items()},
            **{name: (statement, engine) for name, statement in ENGINE_CANDIDATES.items()},
        }
        for statement, bundle in candidates.values():
            run_once(statement, bundle, aws.endpoint)  # warm the file cache, outside the measurements
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
        rng = random.Random(0)
        for _ in range(args.rounds):
            order = list(candidates.items())
            rng.shuffle(order)
            for name, (statement, bundle) in order:
                samples[name].append(run_once(statement, bundle, aws.endpoint))
    cpu = {name: statistics.median(c for c, _ in values) for name, values in samples.items()}
    wall = {name: statistics.median(w for _, w in values) for name, values in samples.items()}
    baseline, wall_baseline = cpu["import boto3 (baseline)"], wall["import boto3 (baseline)"]
    python = sys.version.split()[0]
    print(f"cold import, median of {args.rounds} fresh processes each (interleaved); Python {python}")
    print()
    print("| what | CPU ms | x import boto3 | wall ms | x import boto3 (wall) |")
    print("|---|---:|---:|---:|---:|")
    for name in samples:
        if name in REQUEST_ONLY:  # one request, not a process: no ratio to an import
            print(f"| {name} | {cpu[name]:.0f} | - | - | - |")
            continue
        print(
            f"| {name} | {cpu[name]:.0f} | {cpu[name] / baseline:.2f} | {wall[name]:.0f} | "
            f"{wall[name] / wall_baseline:.2f} |"
        )
    print()
    for name, target in (
        ("API handler: import", 1.5),
        ("API handler: import + first GET", 2.0),
        ("API handler: import + first POST", 2.0),
    ):
        ratio = cpu[name] / baseline
        verdict = "met" if ratio <= target else "NOT met"
        print(f"target {name} <= {target}x import boto3 (CPU time): {ratio:.2f}x ({verdict})")
    sdk, router, resolver, models = (cpu[name] / baseline for name in CANDIDATES if name.startswith("floor:"))
    print(
        f"floor of a first GET: {sdk:.2f}x with botocore alone, {router:.2f}x with Powertools' "
        f"resolver (no pydantic), {resolver:.2f}x with its validation and pydantic; "
        f"{models:.2f}x with our API models and no resolver"
    )
    get, post = (cpu[name] for name in REQUEST_ONLY)
    cold_get, cold_post = cpu["API handler: import + first GET"], cpu["API handler: import + first POST"]
    print(
        f"with SnapStart (apiSnapStart), primed: a first GET costs {get:.0f} ms of CPU and a first "
        f"POST {post:.0f} ms, against {cold_get:.0f} and {cold_post:.0f} ms cold"
    )


if __name__ == "__main__":
    main()
