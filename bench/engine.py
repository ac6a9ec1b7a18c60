"""The engine against the FFmpeg command line, and what probing reads.

    python -m bench.engine [--seconds 60] [--rounds 1]

1. Transcode time: the same generated 720p clip (H.264 + AAC, ``--seconds`` long) to the
   ``480p-generic`` preset (854x480, H.264 1200k, AAC 128k, 2 s GOPs, x264 ``medium``, fast
   start), once with the engine (in-process, PyAV) and once with the ``ffmpeg`` program (the static
   build from imageio-ffmpeg) at the same settings, in the same run, interleaved when rounds > 1.
   Target: engine <= 1.05x the CLI's wall time.
2. Probe bytes: a large clip (no fast start: the index is at the end) in S3 (moto), probed through
   the ranged reader. Target: <= 2 MB read.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import av
import boto3
import imageio_ffmpeg  # type: ignore[import-untyped]
from moto import mock_aws

from engine import media, video
from engine.presets import preset
from engine.probe import probe
from engine.sources import InputRef
from engine.storage import Storage
from local import sample_media

NOOP = lambda *_: None  # noqa: E731
TARGET_RATIO = 1.05
TARGET_PROBE_BYTES = 2_000_000


def engine_transcode(source: Path, target: Path) -> float:
    chosen = preset("480p-generic")
    plan = media.VideoPlan(
        width=854,
        height=480,
        video_bitrate=media.parse_bitrate(chosen.video_bitrate),
        audio_bitrate=media.parse_bitrate(chosen.audio_bitrate),
    )
    started = time.perf_counter()
    video.transcode_video(source, target, plan, rotation=0, progress=NOOP, check_cancel=NOOP)
    return time.perf_counter() - started


def cli_transcode(source: Path, target: Path) -> float:
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(source),
        "-vf", "scale=854:480,format=yuv420p", "-c:v", "libx264", "-preset", "medium",
        "-b:v", "1200k", "-g", "50", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k",
        "-movflags", "+faststart", str(target),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)  # noqa: S603 - a fixed command
    return time.perf_counter() - started


def frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def probe_bytes(directory: Path) -> tuple[int, int, int]:
    big = sample_media.video(directory / "big.mp4", seconds=60, size=(1280, 720), bitrate=8_000_000)
    environment = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(environment)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        s3.upload_file(str(big), "bench", "big.mp4")
        reader = Storage(s3).sources.open_ranged(InputRef(bucket="bench", key="big.mp4"))
        probe(reader, name="big.mp4", size=reader.size)
        return reader.size, reader.bytes_fetched, reader.requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as work:
        directory = Path(work)
        source = sample_media.video(
            directory / "clip.mp4", seconds=args.seconds, size=(1280, 720), preset="veryfast"
        )
        times: dict[str, list[float]] = {"engine": [], "cli": []}
        for round_number in range(args.rounds):
            order = ["engine", "cli"] if round_number % 2 == 0 else ["cli", "engine"]
            for name in order:
                target = directory / f"{name}.mp4"
                times[name].append((engine_transcode if name == "engine" else cli_transcode)(source, target))
        size, fetched, requests = probe_bytes(directory)
        engine_frames, cli_frames = frames(directory / "engine.mp4"), frames(directory / "cli.mp4")
    engine_time, cli_time = statistics.median(times["engine"]), statistics.median(times["cli"])
    ratio = engine_time / cli_time
    libavcodec = ".".join(map(str, av.library_versions["libavcodec"]))
    print(
        f"engine benchmark: {args.seconds:g} s 1280x720 clip -> 480p-generic; "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores; "
        f"PyAV {av.__version__} (libavcodec {libavcodec}) vs ffmpeg {imageio_ffmpeg.get_ffmpeg_version()}; "
        f"median of {args.rounds}"
    )
    print()
    print("| transcoder | wall s | x FFmpeg CLI | frames out |")
    print("|---|---:|---:|---:|")
    print(f"| FFmpeg CLI (baseline) | {cli_time:.2f} | 1.00 | {cli_frames} |")
    print(f"| engine (PyAV, in-process) | {engine_time:.2f} | {ratio:.2f} | {engine_frames} |")
    print()
    print("| probe of a file in S3 | file MB | read MB | share read | requests |")
    print("|---|---:|---:|---:|---:|")
    share = f"{fetched / size:.1%}"
    print(f"| 60 s 720p, index at the end | {size / 1e6:.1f} | {fetched / 1e6:.2f} | {share} | {requests} |")
    print()
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"target engine <= {TARGET_RATIO}x the CLI: {ratio:.2f}x ({verdict})")
    met = "met" if fetched <= TARGET_PROBE_BYTES else "NOT met"
    print(f"target probe reads <= {TARGET_PROBE_BYTES / 1e6:.0f} MB: {fetched / 1e6:.2f} MB ({met})")


if __name__ == "__main__":
    main()
