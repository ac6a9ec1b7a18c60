"""An adaptive ladder in one pass against the same renditions encoded separately.

    python -m bench.ladder [--seconds 30] [--rounds 2]

A generated 1280x720 H.264/AAC clip (``--seconds`` long, 30 fps) becomes the ladder the engine
chooses for it (720p, 480p, 360p, 240p): once as an ADAPTIVE package (the input decoded once,
every rung scaled and encoded from the same frames, the audio encoded once, CMAF segments and
manifests), and once as one HLS VIDEO output per rung at the same sizes and bitrates (each
decodes the input and encodes its audio again: what a job listing the renditions as separate
outputs costs), interleaved when rounds > 1. Target (issue 18): the one pass at most 0.8x the
separate encodes' total wall time (and CPU time, printed beside it).
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from engine import adaptive, ladder, video
from local import sample_media

NOOP = lambda *_: None  # noqa: E731
TARGET_RATIO = 0.8
SIZE = (1280, 720)
RATE = 30


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    work()
    return time.perf_counter() - wall, _cpu() - cpu


def the_plan() -> adaptive.AdaptivePlan:
    return adaptive.plan_for(ladder.choose(SIZE, Fraction(RATE)), Fraction(RATE))


def one_pass(source: Path, folder: Path, plan: adaptive.AdaptivePlan) -> None:
    adaptive.transcode(source, folder / "master.m3u8", plan, rotation=0, progress=NOOP, check_cancel=NOOP)


def separately(source: Path, folder: Path, plan: adaptive.AdaptivePlan) -> None:
    for rung, rendition in plan.rungs:
        out = folder / rung.name
        out.mkdir()
        video.transcode_video(
            source, out / "v.m3u8", replace(rendition, hls=True), rotation=0, progress=NOOP, check_cancel=NOOP
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    plan = the_plan()
    times: dict[str, list[tuple[float, float]]] = {"one pass": [], "separately": []}
    with tempfile.TemporaryDirectory(prefix="cpe-bench-ladder-") as work:
        root = Path(work)
        source = sample_media.video(
            root / "in.mp4", seconds=args.seconds, size=SIZE, rate=RATE, preset="veryfast", bitrate=4_000_000
        )
        for round_ in range(args.rounds):
            order = [("one pass", one_pass), ("separately", separately)]
            for name, run in order if round_ % 2 == 0 else reversed(order):
                folder = root / f"{name}-{round_}".replace(" ", "-")
                folder.mkdir()
                times[name].append(_timed(functools.partial(run, source, folder, plan)))
    wall = {name: statistics.median(t[0] for t in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(t[1] for t in runs) for name, runs in times.items()}
    rungs = ", ".join(f"{r.name} {r.video_bitrate // 1000}k" for r, _ in plan.rungs)
    clip = f"{args.seconds:.0f} s {SIZE[0]}x{SIZE[1]} {RATE} fps clip"
    print(f"ladder of a {clip}: {rungs}; AAC 128k; median of {args.rounds}")
    print()
    print("| how | wall s | CPU s | x separate (wall) | x separate (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name in times:
        print(
            f"| {name} | {wall[name]:.1f} | {cpu[name]:.1f} | {wall[name] / wall['separately']:.2f} | "
            f"{cpu[name] / cpu['separately']:.2f} |"
        )
    ratio = wall["one pass"] / wall["separately"]
    print()
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"target one pass <= {TARGET_RATIO}x the separate encodes' wall time: {verdict} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
