"""What jobs cost on AWS: per 1,000 jobs and per output minute, from what the stack's functions were
measured doing on the local stack, at AWS's list prices (bench/prices.py), beside MediaConvert.

    python -m bench.cost [--jobs 3] [--seconds 60] [--output docs/cost.md]

The run: ``--jobs`` jobs, each a ``--seconds`` 1280x720 25 fps input with audio uploaded through
the API (POST /uploads, then S3's form), submitted, followed by its webhook deliveries (one
receiver) and read once (GET): an MP4 at 720p, an HLS output at 2 Mb/s and 4 thumbnails, with the
engine at its AWS settings (x264 preset medium, progress every 10 s). Every function runs as in the
local stack, metered (local.metering) from the first upload to the last delivery: invocations, CPU
time, every AWS request it makes with the DynamoDB request units and EventBridge entries they count.

How measurements become bills (estimates; the direction of their error is given):
* Lambda (arm64, the template's memory and /tmp) bills wall time. A Python function: its CPU time
  spread over the CPU its memory gives (one vCPU per 1,769 MB: a 256 MB function runs CPU-bound code
  about 7 times slower than one core), plus 10 ms per AWS request it waits on. The engine's tasks:
  their process CPU time (x264's threads included) over the function's vCPUs, as if x264 kept them
  all busy: low where a task waits on S3 or Graviton's cores are slower than this machine's, high
  where the embedded AWS's own CPU for the tasks' S3 traffic is counted in it.
* SQS: every request but empty receives (Lambda's idle polling is in the monthly figures), the
  event sources' receives and deletes included; DynamoDB: request units from item sizes (reads
  counted strongly consistent; index writes and refused conditional writes not counted); streams
  read by Lambda are free. The watchdog (a schedule) is in the monthly figures, not per job.
* Not counted: data transfer out (viewers' downloads), CloudWatch Logs (about 0.3 KB of REPORT line
  per invocation plus what you log), Lambda's init time at each new execution environment, X-Ray,
  the console's CloudFront.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.prices import (
    API_GATEWAY_REST_REQUEST,
    CLOUDWATCH_ALARM_MONTH,
    CLOUDWATCH_DASHBOARD_MONTH,
    CLOUDWATCH_METRIC_MONTH,
    DYNAMODB_GB_MONTH,
    DYNAMODB_READ_UNIT,
    DYNAMODB_WRITE_UNIT,
    EVENTBRIDGE_EVENT,
    KMS_KEY_MONTH,
    LAMBDA_MB_PER_VCPU,
    LAMBDA_REQUEST,
    MEDIACONVERT_BASIC_HD_MINUTE,
    PRICES_CHECKED,
    S3_GB_MONTH,
    S3_READ_REQUEST,
    S3_WRITE_REQUEST,
    SECRETS_MANAGER_SECRET_MONTH,
    SQS_REQUEST,
    lambda_compute,
)
from cpe_client.client import JobsClient
from functions import env
from functions.metrics import Metric
from local import sample_media
from local.metering import OUTSIDE, FunctionUsage, Meter, item_bytes
from local.run import WebhookReceiver
from local.stack import LocalStack, local_stack

WAIT_SECONDS_PER_REQUEST = 0.010
ENCODER = "engine.handlers.tasks.handler"  # x264 keeps threads of its own
WATCHDOG = "functions.watchdog.handler.handler"
SCHEDULE_SECONDS = 20.0  # the watchdog fires this often here, to be measured (its rate: the template's)
S3_WRITES = ("PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
S3_LISTS = ("ListObjects", "ListObjectsV2", "ListMultipartUploads", "ListParts")
# Lambda polls an SQS queue with five long-polling pollers while it is idle (20 s receives).
IDLE_RECEIVES_PER_MAPPING_MONTH = 5 * 3 * 60 * 24 * 30
HD_OUTPUTS = 2  # the MP4 and the HLS output, both 720p: MediaConvert counts each 2x


def job_on(upload: dict[str, Any], index: int) -> dict[str, Any]:
    source, at = upload["input_asset"], upload["output_prefix"]
    output = {"bucket": source["bucket"]}
    return {
        "input_asset": source,
        "output_assets": [
            {**output, "type": "VIDEO", "file": f"{at}cost/{index}/v.mp4", "preset": "720p-generic"},
            {**output, "type": "VIDEO", "file": f"{at}cost/{index}/hls/v.m3u8", "preset": "hls2M-generic"},
            {
                **output,
                "type": "THUMB",
                "file": f"{at}cost/{index}/t.jpg",
                "mode": "intervals",
                "intervals": 4,
            },
        ],
    }


@dataclass
class Measured:
    jobs: int
    seconds: float
    usage: dict[str, FunctionUsage]
    functions: dict[str, dict[str, int]]  # handler -> memory and /tmp, from the template
    template_counts: Counter[str]  # resource types -> how many
    sqs_mappings: int
    schedule_minutes: float | None
    s3_bytes: int
    table_bytes: int
    statuses: Counter[str]


def _template_functions(template: dict[str, Any]) -> dict[str, dict[str, int]]:
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            props = resource["Properties"]
            found[props["Handler"]] = {
                "memory": int(props.get("MemorySize", 128)),
                "tmp": int(props.get("EphemeralStorage", {}).get("Size", 512)),
            }
    return found


def _schedule_minutes(template: dict[str, Any]) -> float | None:
    for resource in template["Resources"].values():
        expression = resource.get("Properties", {}).get("ScheduleExpression", "")
        if resource["Type"] == "AWS::Events::Rule" and expression.startswith("rate("):
            number, unit = expression.removeprefix("rate(").removesuffix(")").split()
            return float(number) * {"minute": 1, "minutes": 1, "hour": 60, "hours": 60}[unit]
    return None


def _stored_bytes(stack: LocalStack) -> tuple[int, int]:
    s3, dynamodb = stack.aws.client("s3"), stack.aws.client("dynamodb")
    objects = sum(
        o["Size"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.outputs["MediaBucketName"])
        for o in page.get("Contents", [])
    )
    items = sum(
        item_bytes(item)
        for page in dynamodb.get_paginator("scan").paginate(TableName=stack.outputs["JobsTableName"])
        for item in page["Items"]
    )
    return objects, items


def measure(jobs: int, seconds: float, timeout: float) -> Measured:
    meter = Meter()
    receiver = WebhookReceiver()
    with tempfile.TemporaryDirectory(prefix="cpe-cost-") as work:
        video = sample_media.video(
            Path(work) / "in.mp4", seconds=seconds, size=(1280, 720), preset="veryfast"
        )
        with local_stack(
            engine_jobs=1,
            progress_interval=10.0,
            webhook_urls=[receiver.url],
            engine_settings={env.ENCODER_PRESET: "medium"},
            schedule_seconds=SCHEDULE_SECONDS,
            meter=meter,
        ) as stack:
            secret = stack.aws.client("secretsmanager").get_secret_value(SecretId=stack.webhook_secret_arn)
            receiver.secret = secret["SecretString"]
            client = JobsClient(stack.api_url, region=stack.aws.region, timeout=300)
            with meter.counting_requests():  # the jobs' requests, not the stack's setting up
                submitted = [client.submit(job_on(client.upload(video), n))["jobId"] for n in range(jobs)]
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    ended = {
                        e["jobId"] for e in receiver.deliveries if e["status"] in ("COMPLETED", "FAILED")
                    }
                    if ended >= set(submitted):
                        break
                    time.sleep(0.5)
                finals = [client.get(job_id) for job_id in submitted]
                time.sleep(3)  # the last deliveries' writes settle
            s3_bytes, table_bytes = _stored_bytes(stack)
            template = stack.template
    statuses = Counter(job["status"] for job in finals)
    if statuses != Counter({"COMPLETED": jobs}):
        raise SystemExit(f"the jobs did not all complete: {dict(statuses)}")
    mappings = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    return Measured(
        jobs=jobs,
        seconds=seconds,
        usage=dict(meter.usage),
        functions=_template_functions(template),
        template_counts=Counter(r["Type"] for r in template["Resources"].values()),
        sqs_mappings=sum(
            1 for m in mappings if "StreamArn" not in json.dumps(m["Properties"]["EventSourceArn"])
        ),
        schedule_minutes=_schedule_minutes(template),
        s3_bytes=s3_bytes,
        table_bytes=table_bytes,
        statuses=statuses,
    )


@dataclass(frozen=True)
class Line:
    what: str
    quantity: str
    dollars: float  # per 1,000 jobs
    kind: str = "processing"  # or "engine" (the encoder's Lambda), or "storage" (a month kept)


@dataclass(frozen=True)
class Bill:
    """1,000 jobs' lines and the sums the report and the document give."""

    lines: list[Line]

    @property
    def total(self) -> float:
        return sum(line.dollars for line in self.lines)

    def of(self, kind: str) -> float:
        return sum(line.dollars for line in self.lines if line.kind == kind)

    @property
    def processing(self) -> float:
        """All but storage (MediaConvert's outputs need storage too)."""
        return self.total - self.of("storage")


def billed_seconds(handler: str, usage: FunctionUsage, memory_mb: int) -> float:
    """What Lambda would bill for these invocations (the module's docstring says how)."""
    vcpus = memory_mb / LAMBDA_MB_PER_VCPU
    if handler == ENCODER:
        return usage.process_cpu / vcpus
    return usage.thread_cpu / min(1.0, vcpus) + WAIT_SECONDS_PER_REQUEST * sum(usage.requests.values())


def _short(handler: str) -> str:
    return handler.removeprefix("functions.").removesuffix(".handler")


def per_thousand(m: Measured) -> list[Line]:
    """The bill of 1,000 such jobs, line by line."""
    scale = 1000 / m.jobs
    lines = []
    for handler, usage in sorted(m.usage.items()):
        if handler == OUTSIDE or handler not in m.functions:
            continue
        if handler == WATCHDOG:
            continue  # a schedule: in the monthly figures
        spec = m.functions[handler]
        billed = billed_seconds(handler, usage, spec["memory"])
        dollars = lambda_compute(billed, spec["memory"], spec["tmp"]) + usage.invocations * LAMBDA_REQUEST
        lines.append(
            Line(
                f"Lambda: {_short(handler)} ({spec['memory']} MB)",
                f"{usage.invocations * scale:,.0f} invocations, {billed * scale:,.0f} s billed",
                dollars * scale,
                "engine" if handler.startswith("engine.") else "processing",
            )
        )
    every = Counter[str]()
    write_units = read_units = 0.0
    events = 0
    for handler, usage in m.usage.items():
        if handler == WATCHDOG:
            continue
        every.update(usage.requests)
        write_units += usage.write_units
        read_units += usage.read_units
        events += usage.events
    api = m.usage.get("functions.api.handler.handler", FunctionUsage()).invocations
    lines.append(
        Line("API Gateway (REST)", f"{api * scale:,.0f} requests", api * scale * API_GATEWAY_REST_REQUEST)
    )
    sqs = sum(n for name, n in every.items() if name.startswith("sqs:"))
    lines.append(Line("SQS", f"{sqs * scale:,.0f} requests", sqs * scale * SQS_REQUEST))
    lines.append(
        Line(
            "DynamoDB (on demand)",
            f"{write_units * scale:,.0f} write units, {read_units * scale:,.0f} read units",
            (write_units * DYNAMODB_WRITE_UNIT + read_units * DYNAMODB_READ_UNIT) * scale,
        )
    )
    lines.append(Line("EventBridge", f"{events * scale:,.0f} events", events * scale * EVENTBRIDGE_EVENT))
    s3_writes = sum(n for name, n in every.items() if name.removeprefix("s3:") in S3_WRITES + S3_LISTS)
    s3_writes += m.jobs  # each upload: the browser's (or client's) POST of S3's form, not an SDK call
    s3_reads = sum(n for name, n in every.items() if name.startswith("s3:")) - (s3_writes - m.jobs)
    lines.append(
        Line(
            "S3 requests",
            f"{s3_writes * scale:,.0f} PUT/POST/LIST, {s3_reads * scale:,.0f} GET/HEAD",
            (s3_writes * S3_WRITE_REQUEST + s3_reads * S3_READ_REQUEST) * scale,
        )
    )
    lines.append(
        Line(
            "S3 storage, a month (input and outputs)",
            f"{m.s3_bytes * scale / 1e9:,.1f} GB",
            m.s3_bytes * scale / 1e9 * S3_GB_MONTH,
            "storage",
        )
    )
    lines.append(
        Line(
            "DynamoDB storage, a month (the jobs' items)",
            f"{m.table_bytes * scale / 1e6:,.1f} MB",
            m.table_bytes * scale / 1e9 * DYNAMODB_GB_MONTH,
            "storage",
        )
    )
    return lines


def monthly(m: Measured) -> list[Line]:
    """What the stack costs a month whatever it does."""
    lines = [
        Line(
            "SQS: Lambda's idle polling",
            f"{m.sqs_mappings} queues x ~{IDLE_RECEIVES_PER_MAPPING_MONTH:,} receives",
            m.sqs_mappings * IDLE_RECEIVES_PER_MAPPING_MONTH * SQS_REQUEST,
        ),
        Line(
            "CloudWatch alarms",
            f"{m.template_counts['AWS::CloudWatch::Alarm']}",
            m.template_counts["AWS::CloudWatch::Alarm"] * CLOUDWATCH_ALARM_MONTH,
        ),
        Line(
            "CloudWatch custom metrics (the functions' EMF metrics, one service dimension)",
            f"{len(Metric)}",
            len(Metric) * CLOUDWATCH_METRIC_MONTH,
        ),
        Line(
            "CloudWatch dashboard",
            f"{m.template_counts['AWS::CloudWatch::Dashboard']}",
            m.template_counts["AWS::CloudWatch::Dashboard"] * CLOUDWATCH_DASHBOARD_MONTH,
        ),
        Line(
            "Secrets Manager (the webhook secret)",
            f"{m.template_counts['AWS::SecretsManager::Secret']}",
            m.template_counts["AWS::SecretsManager::Secret"] * SECRETS_MANAGER_SECRET_MONTH,
        ),
        Line(
            "KMS (the alarm topic's key)",
            f"{m.template_counts['AWS::KMS::Key']}",
            m.template_counts["AWS::KMS::Key"] * KMS_KEY_MONTH,
        ),
    ]
    watchdog = m.usage.get(WATCHDOG)
    if m.schedule_minutes and watchdog and watchdog.invocations:
        runs = 30 * 24 * 60 / m.schedule_minutes
        spec = m.functions[WATCHDOG]
        each = billed_seconds(WATCHDOG, watchdog, spec["memory"]) / watchdog.invocations
        lines.append(
            Line(
                f"Lambda: the watchdog, every {m.schedule_minutes:g} minutes",
                f"{runs:,.0f} runs",
                runs * (lambda_compute(each, spec["memory"]) + LAMBDA_REQUEST),
            )
        )
    return lines


def output_minutes(m: Measured) -> float:
    return 1000 * HD_OUTPUTS * m.seconds / 60


def report(m: Measured, bill: Bill) -> str:
    lines, total, processing, engine = bill.lines, bill.total, bill.processing, bill.of("engine")
    minutes = output_minutes(m)
    mediaconvert = MEDIACONVERT_BASIC_HD_MINUTE * minutes
    fixed = monthly(m)
    out = [
        f"1,000 jobs of a {m.seconds:g} s 720p input (an MP4 at 720p, HLS at 2 Mb/s, 4 thumbnails): "
        f"{minutes:,.0f} output minutes; measured on {m.jobs} job(s), all {', '.join(m.statuses)}",
        "",
        "| what | for 1,000 jobs | $ |",
        "|---|---|---:|",
        *(f"| {line.what} | {line.quantity} | {line.dollars:.4f} |" for line in lines),
        f"| **total** | | **{total:.4f}** |",
        "",
        "| per output minute | $ | x this stack's processing |",
        "|---|---:|---:|",
        f"| this stack's processing (all above but storage) | {processing / minutes:.5f} | 1.00 |",
        f"| of which the engine's Lambda | {engine / minutes:.5f} | {engine / processing:.2f} |",
        f"| this stack with a month of storage | {total / minutes:.5f} | {total / processing:.2f} |",
        f"| MediaConvert Basic, 720p up to 30 fps (2 normalized minutes x $0.0075; storage apart) | "
        f"{mediaconvert / minutes:.5f} | {mediaconvert / processing:.2f} |",
        "",
        "Whatever the jobs, a month:",
        "",
        "| what | how many | $ a month |",
        "|---|---|---:|",
        *(f"| {line.what} | {line.quantity} | {line.dollars:.2f} |" for line in fixed),
        f"| **total** | | **{sum(line.dollars for line in fixed):.2f}** |",
    ]
    return "\n".join(out)


def document(bill: Bill, table: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    total, engine, storage = bill.total, bill.of("engine"), bill.of("storage")
    rest = total - engine - storage
    return f"""# What it costs

Written by `python -m bench.cost --output docs/cost.md` (part of `make bench`) on {when}: the
measurements are this machine's run of the local stack; the prices are AWS's list prices for US
East (N. Virginia), on-demand, without free tiers, as of {PRICES_CHECKED} (`bench/prices.py` names
each price's source). Check the prices before relying on a total.

{table}

## How to read it

* **Where the money goes**, in this run: the engine's Lambda {engine / total:.0%}, a month of
  storage (S3 for the input and outputs, DynamoDB for the jobs' items) {storage / total:.0%},
  everything else (the API, the tracker, notifications, queues, requests) {rest / total:.0%}.
  Storage is per month kept: set a lifecycle rule on the media bucket for what you need not keep.
* **The engine's figure** is an estimate: CPU time measured on this machine (x86_64) spread over the
  function's vCPUs as if x264 kept them busy. It is low where a task waits on S3 or Graviton's cores
  are slower than these, high where the embedded AWS's CPU for the tasks' S3 traffic is counted in
  it. The fan-out benchmark measures a 10-minute 1080p input (`docs/benchmarks.md`, "The engine
  fanned out").
* **Per output minute** falls with longer inputs: the per-job parts (API requests, the tracker's
  writes, events) are spread over more minutes, and progress messages come every 10 s whatever the
  length.
* **MediaConvert** bills each output's minutes, times 2 for HD; thumbnails (frame capture) are not
  counted here, nor is the storage both need. It needs no function of yours to run.
* **Left out**: data transfer out to viewers (S3 $0.09/GB or CloudFront $0.085/GB for the first
  10 TB), CloudWatch Logs ingestion ($0.50/GB: about 0.3 KB of REPORT line per invocation plus what
  the functions log), Lambda's init time at each new execution environment (billed since 2025-08;
  about 1 s of CPU for the API's, `docs/benchmarks.md`, "Cold import"), X-Ray if enabled, the
  console's CloudFront and S3 (cents a month), free tiers.
* The method, in `bench/cost.py`'s docstring: which requests count, how CPU time becomes billed
  time (Python functions: CPU time over the CPU their memory gives, plus 10 ms per AWS request),
  how DynamoDB request units are estimated from item sizes.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--output", type=Path, help="also write the document (docs/cost.md)")
    args = parser.parse_args(argv)
    measured = measure(args.jobs, args.seconds, args.timeout)
    bill = Bill(per_thousand(measured))
    table = report(measured, bill)
    print(table)
    per_minute = bill.processing / output_minutes(measured)
    print()
    print(
        f"goal this stack's processing per output minute below MediaConvert Basic's (HD, "
        f"${MEDIACONVERT_BASIC_HD_MINUTE:.4f}): ${per_minute:.5f} "
        f"({'met' if per_minute < MEDIACONVERT_BASIC_HD_MINUTE else 'NOT met'})"
    )
    if args.output:
        args.output.write_text(document(bill, table))
        print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
