"""The engine fanned out, measured on this machine: a generated 1080p input to a 720p MP4 and a
720p HLS rendition, made by the engine's Lambda handlers in worker processes (each one a Lambda
sandbox) over a moto server's SQS, DynamoDB and S3, as the local stack runs them.

    python -m bench.fanout [--seconds 600] [--span 60] [--preset medium]

Three runs of the same job: one pass per output (no spans, one worker: the engine before the
fan-out), then in spans with one worker and with two. From the runs' task records (each task's
wall and CPU time in its worker) it prints:

1. the wall time of each run;
2. the serial part (the validation, then each output's join: everything the spans cannot share),
   as a share of the one-pass encode time (target <= 3%: with 100 workers, >= 25x by Amdahl);
3. the CPU cost of segmenting: the spanned job's CPU time over the one-pass job's (target <= 1.10x);
4. the outputs against the one pass: frames, duration (within one frame), the audio's continuity
   (no gap or overlap at the joins) and its length, and PSNR against the source (within 0.3 dB);
5. a projection, labelled as one, of the wall time for 10- and 60-minute inputs with 10, 50 and
   200 concurrent invocations, from the measured per-task times, beside a published anchor;
6. the cost per output minute at Lambda's arm64 list price from the measured CPU time, beside
   MediaConvert's list price for the same outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter

from bench.prices import (
    LAMBDA_MB_PER_VCPU,
    LAMBDA_REQUEST,
    MEDIACONVERT_BASIC_HD_MINUTE,
    lambda_compute,
)
from functions import env
from functions.jobs.commands import start_job_body
from local import sample_media
from local.embedded import EmbeddedAws, embedded_aws
from local.resources import create_engine_table, create_queue_with_dlq

BUCKET = "bench-media"
SOURCE_KEY = "uploads/source.mp4"
WORKFLOW = {"name": "Transcode", "version": "1.0", "taskList": "basic_transcode", "domain": "SADomain"}
SIZE, FPS = (1920, 1080), 25
SOURCE_BITRATE = 5_000_000  # a typical 1080p upload
OUTPUTS = {  # name -> the output asset (its file under outputs/<run>/)
    "mp4": {"type": "VIDEO", "preset": "720p-generic", "file": "v.mp4"},
    "hls": {"type": "VIDEO", "preset": "hls2M-generic", "file": "hls/v.m3u8"},
}
TARGET_SERIAL_SHARE = 0.03
TARGET_CPU_RATIO = 1.10
TARGET_PSNR_DB = 0.3
ANCHOR = (
    "a Step Functions + Lambda + EFS transcoder (github.com/bnusunny/serverless-video-transcoder, "
    "README of 2020-11: 3,008 MB x86 functions, 40 s segments) reports a 1-hour 1080p MP4 to 720p "
    "in 3 min 50 s"
)
ANCHOR_SECONDS = 230
INVOCATION_OVERHEAD_SECONDS = 1.0  # per stage (queue hop and a warm start); cold starts not modelled
BREAK_SECONDS = Fraction(1, 1000)  # MPEG-TS's 90 kHz clock rounds AAC's packet times by a tick
SAFETY_SECONDS = 6 * 3600  # only so that a broken engine cannot hang the benchmark


@dataclass(frozen=True)
class Task:
    kind: str
    output: int | None
    span: int | None
    wall: float
    cpu: float


@dataclass(frozen=True)
class Run:
    name: str
    workers: int
    wall: float
    tasks: list[Task]

    def of(self, kind: str) -> list[Task]:
        return [task for task in self.tasks if task.kind == kind]

    @property
    def cpu(self) -> float:
        return sum(task.cpu for task in self.tasks)


# ---------------------------------------------------------------------------------------- workers


def worker(log: Path, stop: Path, commands: bool) -> None:
    """One Lambda sandbox: the tasks function (and with ``commands``, the commands function) fed
    by the local event source emulation until ``stop`` exists; every task timed into ``log``."""
    from engine.handlers import commands as commands_handler  # noqa: PLC0415 - the worker's own imports
    from engine.handlers import tasks as tasks_handler  # noqa: PLC0415
    from functions.shared import aws  # noqa: PLC0415
    from local.event_source import SqsEventSource  # noqa: PLC0415

    def timed(event: dict[str, Any], context: Any) -> Any:
        body = json.loads(event["Records"][0]["body"])
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return tasks_handler.handler(event, context)
        finally:
            record = {
                "kind": body["kind"],
                "output": body.get("output"),
                "span": body.get("span"),
                "wall": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu,  # every thread of the process: x264's too
            }
            with log.open("a") as out:
                out.write(json.dumps(record) + "\n")

    sqs = aws.client("sqs")
    # The one-pass run's whole outputs may take longer than Lambda's 15 minutes here: that is what
    # the spans are for, and the benchmark measures it rather than cutting it off.
    day = 24 * 3600 * 1000
    tasks = SqsEventSource(sqs, os.environ[env.WORK_QUEUE_URL], timed, batch_size=1, timeout_ms=day)
    inputs = (
        SqsEventSource(sqs, os.environ["BENCH_INPUT_URL"], commands_handler.handler, timeout_ms=day)
        if commands
        else None
    )
    while not stop.exists():
        received = tasks.poll_once(wait_seconds=1)
        if inputs is not None:
            received += inputs.poll_once()
        if not received:
            time.sleep(0.05)


def run_job(aws: EmbeddedAws, name: str, workers: int, settings: dict[str, str], folder: Path) -> Run:
    sqs = aws.client("sqs")
    input_url = sqs.create_queue(QueueName=f"{name}-input")["QueueUrl"]
    output_url = sqs.create_queue(QueueName=f"{name}-output")["QueueUrl"]
    work_url, _ = create_queue_with_dlq(sqs, f"{name}-work", visibility_timeout=12 * 3600, max_receives=3)
    environment = {
        **os.environ,
        env.ENGINE_TABLE_NAME: "bench-engine",
        env.WORK_QUEUE_URL: work_url,
        env.WORK_BUCKET: BUCKET,
        env.MAX_INPUT_BYTES: str(10 * 1024**3),
        env.MAX_INPUT_PIXELS: str(8192 * 8192),
        env.MAX_INPUT_SECONDS: str(6 * 3600),
        env.DOWNLOAD_SECONDS: "3600",
        env.PROGRESS_SECONDS: "30",
        env.POWERTOOLS_LOG_LEVEL: "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "BENCH_INPUT_URL": input_url,
        **settings,
    }
    log, stop = folder / f"{name}.tasks.jsonl", folder / f"{name}.stop"
    processes = [
        subprocess.Popen(  # noqa: S603 - this module, fixed arguments
            [sys.executable, "-m", "bench.fanout", "--worker", str(log), "--stop", str(stop)]
            + (["--commands"] if n == 0 else []),
            env=environment,
        )
        for n in range(workers)
    ]
    data = {
        "workflow": WORKFLOW,
        "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": f"/{SOURCE_KEY}"},
        "output_assets": [
            {**output, "bucket": BUCKET, "file": f"/outputs/{name}/{output['file']}"}
            for output in OUTPUTS.values()
        ],
        "client": {"name": "bench", "queues": {"input": input_url, "output": output_url}},
    }
    try:
        began = time.perf_counter()
        sqs.send_message(
            QueueUrl=input_url, MessageBody=start_job_body(job_id=name, time=time.time(), data=data)
        )
        _wait_for_the_end(sqs, output_url, name)
        wall = time.perf_counter() - began
    finally:
        stop.touch()
        for process in processes:
            process.wait(timeout=120)
    tasks = [Task(**json.loads(line)) for line in log.read_text().splitlines()]
    return Run(name, workers, wall, tasks)


def _wait_for_the_end(sqs: Any, output_url: str, name: str) -> None:
    deadline = time.monotonic() + SAFETY_SECONDS
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=output_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            body = json.loads(message["Body"])
            if body["type"] == "WORKFLOW_COMPLETED":
                return
            if body["type"] in ("WORKFLOW_FAILED", "WORKFLOW_CANCELED"):
                raise RuntimeError(f"the {name} run ended {body['type']}: {body.get('data')}")
    raise RuntimeError(f"the {name} run did not end within {SAFETY_SECONDS} s")


# ---------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Rendition:
    frames: int
    seconds: float
    audio_seconds: float
    audio_breaks: int  # audio packets starting over 1 ms from where the previous one ended
    worst_break_ms: float


def rendition(path: Path) -> Rendition:
    """Counted from the packets (no decoding): video frames and span, audio span and continuity."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        frames = 0
        first: Fraction | None = None
        last: Fraction | None = None
        audio_start: Fraction | None = None
        audio_end: Fraction | None = None
        breaks, worst = 0, 0.0
        for packet in container.demux(video, audio):
            if packet.pts is None or packet.duration is None or packet.time_base is None:
                continue
            base = packet.time_base
            if packet.stream is video:
                frames += 1
                start, end = packet.pts * base, (packet.pts + packet.duration) * base
                first = start if first is None else min(first, start)
                last = end if last is None else max(last, end)
                continue
            start, end = packet.pts * base, (packet.pts + packet.duration) * base
            if audio_end is not None and abs(start - audio_end) > BREAK_SECONDS:
                breaks += 1
                worst = max(worst, abs(float(start - audio_end)) * 1000)
            audio_start = start if audio_start is None else audio_start
            audio_end = end
    return Rendition(
        frames,
        float((last or 0) - (first or 0)),
        float((audio_end or 0) - (audio_start or 0)),
        breaks,
        worst,
    )


def download(aws: EmbeddedAws, run: str, output: str, folder: Path) -> Path:
    """The output as one file (an HLS rendition's segments concatenated, as a player reads them)."""
    s3 = aws.client("s3")
    key = f"outputs/{run}/{OUTPUTS[output]['file']}"
    target = folder / f"{run}-{output}{'.ts' if output == 'hls' else '.mp4'}"
    if output == "mp4":
        s3.download_file(BUCKET, key, str(target))
        return target
    playlist = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    directory = key.rsplit("/", 1)[0]
    with target.open("wb") as out:
        for line in playlist.splitlines():
            if line and not line.startswith("#"):
                out.write(s3.get_object(Bucket=BUCKET, Key=f"{directory}/{line}")["Body"].read())
    return target


def psnr(source: Path, renditions: list[Path], size: tuple[int, int]) -> list[float]:
    """Y-PSNR of each rendition against the source scaled to its size (FFmpeg's psnr filter), in
    one pass over the source; frames paired in order."""
    width, height = size

    def frames(path: Path, scaled: bool) -> Iterator[av.VideoFrame]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            graph = av.filter.Graph()
            chain = [graph.add_buffer(template=stream)]
            if scaled:
                chain.append(graph.add("scale", f"{width}:{height}"))
            chain += [graph.add("format", "yuv420p"), graph.add("buffersink")]
            graph.link_nodes(*chain).configure()
            for frame in container.decode(stream):
                graph.vpush(frame)
                while True:
                    try:
                        yield graph.vpull()
                    except (av.BlockingIOError, av.EOFError):
                        break

    meters: list[tuple[av.filter.Graph, Any, list[float]]] = []
    for _ in renditions:
        graph = av.filter.Graph()
        ours, theirs = (
            graph.add_buffer(
                width=width, height=height, format=av.VideoFormat("yuv420p"), time_base=Fraction(1, FPS)
            )
            for _ in range(2)
        )
        compare, sink = graph.add("psnr"), graph.add("buffersink")
        ours.link_to(compare, 0, 0)
        theirs.link_to(compare, 0, 1)
        compare.link_to(sink)
        graph.configure()
        meters.append((graph, sink, []))
    streams = [frames(source, scaled=True), *(frames(path, scaled=False) for path in renditions)]
    for index, (reference, *made) in enumerate(zip(*streams, strict=False)):
        for frame, (graph, sink, errors) in zip(made, meters, strict=True):
            for at, picture in ((0, frame), (1, reference)):
                picture.pts, picture.time_base = index, Fraction(1, FPS)
                graph.push(picture, at=at)
            try:
                while True:
                    errors.append(float(sink.pull().metadata["lavfi.psnr.mse.y"]))
            except (av.BlockingIOError, av.EOFError):
                pass
    return [10 * math.log10(255**2 / statistics.fmean(errors)) for _, _, errors in meters]


# ---------------------------------------------------------------------------------------- report


def projection(spanned: Run, seconds: float, span: float, length: float, workers: int) -> float:
    """Wall time of a ``length`` s input's two outputs with ``workers`` invocations at once, from
    the measured tasks (one invocation as fast as this machine's worker was)."""
    per_span = statistics.median(task.wall for task in spanned.of("span"))
    audio_per_second = statistics.median(task.wall for task in spanned.of("audio")) / seconds
    join_per_second = max(task.wall for task in spanned.of("join")) / seconds
    validate = statistics.median(task.wall for task in spanned.of("validate"))
    parts = len(OUTPUTS) * math.ceil(length / span)
    parallel = max(math.ceil(parts / workers) * per_span, audio_per_second * length)
    return validate + parallel + join_per_second * length + 3 * INVOCATION_OVERHEAD_SECONDS


def lambda_cost_per_output_minute(run: Run, seconds: float, memory_mb: int, storage_mb: int) -> float:
    """From the measured CPU seconds, at Lambda's arm64 price: a CPU-bound task on a function of
    ``memory_mb`` takes cpu / (memory_mb / 1769) seconds, billed at memory_mb / 1024 GB."""
    vcpus = memory_mb / LAMBDA_MB_PER_VCPU
    billed_seconds = sum(task.cpu / vcpus for task in run.tasks)
    requests = len(run.tasks) * LAMBDA_REQUEST
    return (lambda_compute(billed_seconds, memory_mb, storage_mb) + requests) / (len(OUTPUTS) * seconds / 60)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report_walls(runs: list[Run]) -> None:
    one = runs[0]
    print("1. Wall time")
    print()
    print("| run | workers | tasks | wall s | x one pass |")
    print("|---|---:|---:|---:|---:|")
    for run in runs:
        print(
            f"| {run.name} | {run.workers} | {len(run.tasks)} | {run.wall:.0f} | {run.wall / one.wall:.2f} |"
        )
    print()


def report_serial(one: Run, spanned: Run) -> None:
    encode = sum(task.wall for task in one.of("output"))
    validate = statistics.median(task.wall for task in spanned.of("validate"))
    join = max(task.wall for task in spanned.of("join"))
    serial = validate + join
    share = serial / encode
    print("2. The serial part (what the spans cannot share), from the spanned run with one worker")
    print()
    print("| part | s | share of the one-pass encode |")
    print("|---|---:|---:|")
    print(f"| one-pass encode of both outputs (baseline) | {encode:.1f} | 100% |")
    print(f"| validation (probe, limits, plan) | {validate:.1f} | {validate / encode:.2%} |")
    print(
        f"| the slower output's join (fetch its parts, package, upload) | {join:.1f} | {join / encode:.2%} |"
    )
    print(f"| serial part | {serial:.1f} | {share:.2%} |")
    print()
    print(f"Amdahl with 100 workers: {1 / (share + (1 - share) / 100):.1f}x")
    ok = share <= TARGET_SERIAL_SHARE
    print(
        f"target serial part <= {TARGET_SERIAL_SHARE:.0%} of the one-pass encode: {share:.2%} ({verdict(ok)})"
    )
    print()


def report_cpu(runs: list[Run]) -> None:
    one, spanned = runs[0], runs[1]
    print("3. CPU time of the job (every task, all its threads)")
    print()
    print("| run | CPU s | x one pass |")
    print("|---|---:|---:|")
    for run in runs:
        print(f"| {run.name} | {run.cpu:.0f} | {run.cpu / one.cpu:.3f} |")
    for kind in ("validate", "span", "audio", "join"):
        tasks = spanned.of(kind)
        print(f"| {spanned.name}: {kind} tasks ({len(tasks)}) | {sum(t.cpu for t in tasks):.0f} | |")
    ratio = spanned.cpu / one.cpu
    print()
    print(
        f"target the spans' CPU time <= {TARGET_CPU_RATIO:.2f}x the one pass's: "
        f"{ratio:.3f}x ({verdict(ratio <= TARGET_CPU_RATIO)})"
    )
    print()


def report_outputs(outputs: dict[str, dict[str, Rendition]], psnrs: dict[str, float]) -> None:
    print("4. The outputs against the one pass (counted from their packets; PSNR of Y against the source)")
    print()
    print("| output | run | frames | seconds | audio s | audio breaks (worst ms) | PSNR dB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    same = True
    for output, made in outputs.items():
        base = made["one-pass"]
        for name, r in made.items():
            shown = f"{psnrs[name]:.2f}" if output == "mp4" else ""
            print(
                f"| {output} | {name} | {r.frames} | {r.seconds:.3f} | {r.audio_seconds:.3f} | "
                f"{r.audio_breaks} ({r.worst_break_ms:.1f}) | {shown} |"
            )
            same &= r.frames == base.frames and abs(r.seconds - base.seconds) <= 1 / FPS
            same &= r.audio_breaks == 0 and abs(r.audio_seconds - base.audio_seconds) <= 1 / FPS
    drop = psnrs["one-pass"] - min(value for name, value in psnrs.items() if name != "one-pass")
    print()
    print(
        "target every frame of the one pass, duration within one frame, no audio gap or overlap: "
        f"{verdict(same)}"
    )
    print(
        f"target PSNR within {TARGET_PSNR_DB} dB of the one pass's: "
        f"{drop:+.3f} dB ({verdict(drop <= TARGET_PSNR_DB)})"
    )
    print()


def report_projection(spanned: Run, seconds: float, span: float) -> None:
    print("5. Projection (not a measurement): wall time with N invocations at once, each as fast as one")
    print(
        "   worker here, from the spanned run's median span, audio and join times, plus "
        f"{INVOCATION_OVERHEAD_SECONDS:g} s"
    )
    print("   per stage (validate, parts, join); cold starts and S3 throughput limits not modelled")
    print()
    print("| input | 10 | 50 | 200 |")
    print("|---|---:|---:|---:|")
    for length in (600, 3600):
        cells = [f"{projection(spanned, seconds, span, length, n):.0f} s" for n in (10, 50, 200)]
        print(f"| {length // 60} min, both outputs | {' | '.join(cells)} |")
    print()
    print(f"anchor: {ANCHOR} ({ANCHOR_SECONDS} s, one output)")
    print()


def report_cost(one: Run, spanned: Run, seconds: float) -> None:
    print("6. Cost per output minute, from the measured CPU time (Lambda arm64, US East, list prices)")
    print()
    print("| what | $ per output minute |")
    print("|---|---:|")
    for memory in (4096, 10240):
        cost = lambda_cost_per_output_minute(spanned, seconds, memory, 10240)
        print(f"| this engine, spans, {memory} MB, 10 GB /tmp | {cost:.4f} |")
    print(
        f"| this engine, one pass, 4096 MB | {lambda_cost_per_output_minute(one, seconds, 4096, 10240):.4f} |"
    )
    mediaconvert = MEDIACONVERT_BASIC_HD_MINUTE
    print(f"| MediaConvert Basic, 720p up to 30 fps (2 normalized minutes x $0.0075) | {mediaconvert:.4f} |")
    print()
    print("CPU seconds are this machine's (x86_64); Graviton's per-core speed differs. Lambda bills wall")
    print("time: the figure assumes the tasks keep the function's vCPUs busy (x264 does). SQS, DynamoDB")
    print("and S3 requests add about 20 per task, a few millionths of a dollar.")


def report(
    args: argparse.Namespace,
    runs: dict[str, Run],
    outputs: dict[str, dict[str, Rendition]],
    psnrs: dict[str, float],
) -> None:
    ordered = [runs["one-pass"], runs["spans-1"], runs["spans-2"]]
    print(
        f"{args.seconds / 60:g}-minute {SIZE[0]}x{SIZE[1]} {FPS} fps H.264/AAC input "
        f"({SOURCE_BITRATE // 1_000_000} Mb/s) -> 720p MP4 (720p-generic) + 720p HLS (hls2M-generic), "
        f"x264 {args.preset}, spans of {args.span} s"
    )
    print()
    report_walls(ordered)
    report_serial(ordered[0], ordered[1])
    report_cpu(ordered)
    report_outputs(outputs, psnrs)
    report_projection(ordered[1], args.seconds, args.span)
    report_cost(ordered[0], ordered[1], args.seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--span", type=int, default=60)
    parser.add_argument("--preset", default="medium", help="x264's preset (the stack's default: medium)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--commands", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, args.stop, args.commands)
        return
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as work, embedded_aws() as aws:
        folder = Path(work)
        print(f"generating the {args.seconds} s source ...", file=sys.stderr, flush=True)
        source = sample_media.video(
            folder / "source.mp4",
            seconds=args.seconds,
            size=SIZE,
            rate=FPS,
            bitrate=SOURCE_BITRATE,
            keyframe_every=2 * FPS,
        )
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(source), BUCKET, SOURCE_KEY)
        create_engine_table(aws.client("dynamodb"), "bench-engine")
        common = {env.ENCODER_PRESET: args.preset, env.SPAN_SECONDS: str(args.span)}
        plans = (
            ("one-pass", 1, {**common, env.SEGMENT_AFTER_SECONDS: str(10 * args.seconds)}),
            ("spans-1", 1, {**common, env.SEGMENT_AFTER_SECONDS: str(args.span)}),
            ("spans-2", 2, {**common, env.SEGMENT_AFTER_SECONDS: str(args.span)}),
        )
        runs = {}
        for name, workers, settings in plans:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            runs[name] = run_job(aws, name, workers, settings, folder)
        outputs = {
            output: {name: rendition(download(aws, name, output, folder)) for name in runs}
            for output in OUTPUTS
        }
        print("measuring PSNR ...", file=sys.stderr, flush=True)
        names = list(runs)
        measured = psnr(source, [folder / f"{name}-mp4.mp4" for name in names], (1280, 720))
        report(args, runs, outputs, dict(zip(names, measured, strict=True)))


if __name__ == "__main__":
    main()
