"""Every benchmark in one run, written to docs/benchmarks.md: each section's table as its command
printed it (every figure next to its baseline from the same run), the targets the issues set marked
met or not, the machine, and how to rerun.

    python -m bench.report [--quick] [--output docs/benchmarks.md] [--only bench.ladder ...]

Each section runs in its own process, one after the other, the engine's first (about two hours
on 2 cores, most of it the fan-out's 10-minute 1080p input; --quick runs smaller sizes in about 15
minutes, for trying the command out, and says so in the report). The report is written after every
section, so a run stopped part-way keeps what it measured and says it is incomplete. ``--only``
reruns the sections named and keeps the others from the existing report, whose run line stays and
a line says which sections were rerun alone, and when.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Section:
    title: str
    module: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    reading: str


SECTIONS = (  # the engine's sections first: the longest, and this round's
    Section(
        "Lambda asset sizes",
        "bench.asset_size",
        (),
        (),
        """Built as `cdk synth` builds them (arm64 wheels for Python 3.13, bytecode), pruned and, as the
baseline, unpruned. Targets: at most 15 MB unzipped for the functions' asset (issue 4: the API, the
tracker and every other function but the engine's run from it); at most 150 MB for the engine's
(issue 16; Lambda's limit is 250 MB), which adds the engine and PyAV, whose FFmpeg libraries are
most of it. Pruning (`infra.bundling.PRUNED`) removes what nothing imports;
`tests/infra/test_bundle.py` runs the functions' and the engine's tests from bundles pruned the same
way, so a prune that removes something used fails the build.""",
    ),
    Section(
        "The console's transfer size",
        "bench.console_size",
        (),
        (),
        """The jobs console as built by `make console` (Vite, minified), each file gzipped as CloudFront
serves it. The first load is what the browser fetches before the job list shows; hls.js, most of
the total, is fetched when a player opens. Target (issue 19): the first load with hls.js at most
300 KB gzipped. `tests/unit/test_console_size.py` holds the build to it.""",
    ),
    Section(
        "Cold import of the handlers",
        "bench.cold_import",
        ("--rounds", "20"),
        ("--rounds", "3"),
        """Each handler is imported from a bundle built like the Lambda asset (pinned dependencies,
the functions, bytecode for this machine's Python) in a fresh interpreter, interleaved with a bare
`import boto3` (the baseline, precompiled as the runtime provides it); medians of each process's
CPU time (the target's measure: other tenants of a shared machine inflate it less than wall time)
and of its wall time. "import + first GET/POST" also handles a first request as API Gateway sends
it against a moto server the benchmark runs (the server's work is not counted): the real cold path
of a caller. Targets: the API handler's import at most 1.5x `import boto3` (issue 3), import plus
the first request at most 2.0x (issue 14). The engine's handlers come from the engine's asset (PyAV
imported with them; no target: a task runs for minutes). What it costs and what keeps it down: bytecode in the
bundle (Lambda's code directory is read-only), no boto3 in the API (SQS through botocore), one
botocore session for every SDK client (PynamoDB made one per model class, each loading the SDK's
data files again), the SQS client built at the first send, every model built at its first use
(functions.shared.models), no X-Ray SDK import, and each process ending with its statement (a
Lambda environment does not run the interpreter's finalization after a request). What remains is
Powertools' REST resolver with validation, pydantic, and botocore's own import (its client module
imports its docs and waiters). The floors say what no change of ours can go below: botocore with a
DynamoDB client and one read; that plus Powertools' resolver without validation or pydantic; then
with validation and a one-field pydantic model, above the 2.0x target, which leaves room for none of
it (docs/decisions.md). The fourth is a router of our own at its best: botocore, one read, pydantic
and our API models with one of them built, and no routing, settings or logging at all: about at the
target already, so 2.0x needs pydantic off the request path too. What a caller waits for is cut by
SnapStart instead (`apiSnapStart`): the "SnapStart-primed" rows run the API's priming hook
(`functions.api.handler.prime`, what Lambda runs before it snapshots; it closes the connections it
opened) and time the first request alone, connecting again (plain HTTP to moto here: on AWS a TLS
handshake adds to it), what a restored environment still pays; the restore itself is Lambda's and
not measured here.""",
    ),
    Section(
        "The engine fanned out: a 10-minute 1080p input to 720p MP4 and HLS",
        "bench.fanout",
        ("--seconds", "600", "--span", "60"),
        ("--seconds", "60", "--span", "20"),
        """The engine's own Lambda handlers in worker processes (each a Lambda sandbox, at most two
at once: this machine's cores) over a moto server's SQS, DynamoDB and S3, the way the local stack
runs them; the job's tasks timed in their workers (wall, and CPU time of every thread). The one-pass
run is the engine without spans (each output one task); the spanned runs cut each output into
60 s spans encoded apart, the audio encoded once per output, then joined by stream copy. The
serial part and the CPU ratio come from the spanned run with one worker (two workers share two
cores, so their tasks' CPU time is inflated by contention). The projection assumes one Lambda
invocation encodes as fast as a worker here (a 4,096 MB function has about 2.3 vCPUs of Graviton2,
this machine 2 x86 cores); for long inputs its bound is the audio, encoded in one piece (AAC's
priming would click at every cut): FFmpeg's AAC encoder runs at about 13x real time here. Costs
use Lambda's and MediaConvert's list prices for US East (`bench/prices.py`: AWS Price List extracts
of 2026-09, each price's source named there); the whole pipeline's cost is `docs/cost.md`; the anchor is
the README of github.com/bnusunny/serverless-video-transcoder (commit d3dd931, 2020-11-05).""",
    ),
    Section(
        "The engine against the FFmpeg command line; probe bytes",
        "bench.engine",
        ("--seconds", "60", "--rounds", "2"),
        ("--seconds", "10", "--rounds", "1"),
        """A generated 1280x720 H.264/AAC clip transcoded to `480p-generic` by the engine (in process,
PyAV) and by the `ffmpeg` program (imageio-ffmpeg's static build) with the same settings,
interleaved; then a clip whose index is at the end probed from S3 (moto) through the engine's
ranged reader. Targets (issue 5): the engine at most 1.05x the CLI's wall time, a probe reading at
most 2 MB. Both use x264 at the same settings; their FFmpeg versions differ slightly (PyAV's wheel
and the static CLI), so this compares the tools as shipped.""",
    ),
    Section(
        "An adaptive ladder in one pass against its renditions encoded separately",
        "bench.ladder",
        ("--seconds", "30", "--rounds", "2"),
        ("--seconds", "10", "--rounds", "1"),
        """A generated 1280x720 30 fps clip to the ladder the engine chooses for it (720p, 480p,
360p, 240p): as one ADAPTIVE package (decoded once, every rung encoded from the same frames, the
audio once) and as one HLS VIDEO output per rung at the same sizes and bitrates (each decodes the
input and encodes the audio again), interleaved. Target (issue 18): the one pass at most 0.8x the
separate encodes' total wall time. Since x264 runs frame-threaded (docs/decisions.md, 2026-12-02)
a separate encode keeps the cores busy on its own, so the wall ratio follows the CPU ratio: the
work the one pass saves (one decoding, one audio encode).""",
    ),
    Section(
        "End-to-end latency of the sample job",
        "bench.latency",
        ("--jobs", "3"),
        ("--jobs", "1"),
        """`make run`'s sample job on the local stack, one at a time: from the API's answer to the
submit until a client polling every 0.2 s sees COMPLETED, against the engine's own work on the same
job. The difference is the pipeline (queues, tracker, table, API) plus up to one poll interval.
No issue set a target for it; the goal line is this report's.""",
    ),
    Section(
        "DynamoDB requests and throughput per message: the tracker vs a naive poller",
        "bench.tracker_requests",
        ("--jobs", "1000", "--concurrency", "50", "--seed", "7"),
        ("--jobs", "150", "--concurrency", "30", "--seed", "7"),
        """Requests are counted at the AWS SDK against moto in process; msgs/s is in-process throughput
against moto, meaningful only as a ratio between the rows. The naive poller reads and writes the
job for every message. The tracker reads the run links and the jobs of a batch in one consistent
`BatchGetItem` each and writes each job it changed once (targets from issue 2); with ~50 jobs in
flight, the number of jobs a batch touches, not its number of messages, sets the writes. The
`TransactWriteItems` are each job's scheduling batch (the job and its run's two links).""",
    ),
    Section(
        "How the tracker's cost grows from 100 to 10,000 jobs",
        "bench.tracker_scaling",
        ("--sizes", "100,1000,10000"),
        ("--sizes", "100,1000"),
        """The same 100 jobs' streams into tables already holding more finished jobs. Requests and
items per message stay identical: the tracker reads and writes by key and never scans. Time per
message is moto's (with its transaction rollback made item-level, `local.moto_speedups`, as
DynamoDB's cost does not grow with the table either).""",
    ),
    Section(
        "The tracker's batching window: writes against status latency",
        "bench.batching_window",
        (),
        ("--horizon", "60", "--jobs", "20,50"),
        """The output queue's stream arriving over virtual time at CT's reporting rate (an activity
reports every 10 s, jobs back to back in N slots), batched by the local event source (the local
stack's code) with each window, tracked into DynamoDB (moto); time is a virtual clock, so the curve
does not depend on this machine's speed. A window saves writes only when a batch holds several
messages of one job. At CT's rate a job reports every few seconds, so a 1 s batch rarely does:
1 s saves almost no writes (about 0.87 against 0.88 a message), only invocations; 5 s saves about
a fifth of the writes and 10 s nearly half when up to 50 jobs run, for 5 and 10 s more before any
status shows (p95); at 200 jobs in flight batches fill (100 messages) before a long window ends.
On AWS, moreover, a queue with a window and very little traffic may wait up to 20 s whatever the
window (Lambda's SQS documentation), and the window starts when the previous invocation ends. This
stream is CT's pace, though; this project's engine reports in bursts (a task's end, the next one's
start, progress and transfers together), which a 1 s window gathers: on one 10 s job, without the
window the tracker took 16 invocations and made 16 events instead of 6 and 7, with 2.5 times the
DynamoDB write units (`bench.cost --jobs 1 --seconds 10`, with and without). The stack keeps 1 s
(`infra/tracker.py`); a deployment whose reports come at CT's pace (a CPE stack of its own,
`engine.mode: none`) gains little from it, and one that counts writes above latency can move along
this curve.""",
    ),
    Section(
        "What it costs on AWS",
        "bench.cost",
        ("--output", "docs/cost.md"),
        ("--jobs", "1", "--seconds", "10"),
        """Jobs through the local stack with every function metered (`local.metering`): invocations,
CPU time, each AWS request with the DynamoDB request units it counts; turned into money at AWS's
list prices for US East (`bench/prices.py`, each price's source named). `docs/cost.md` is written
by the full run, with how to read it and what is left out.""",
    ),
    Section(
        "How long the two commands take",
        "bench.run_times",
        (),
        ("--skip-tests",),
        """The README's two commands, timed here in fresh processes once the environments exist: the main
job (`make run`) and the test run of `make test` (the --quick report times the main job only).
On a fresh clone, creating `.venv`, `node_modules`, the console's build and installing Chromium
come on top (several minutes, mostly the registries'). These are this machine's times: shared
and noisy, 2 cores.""",
    ),
    Section(
        "Fuzzing: hostile input",
        "bench.fuzz",
        ("--examples", "5000"),
        ("--examples", "500"),
        """The fuzzers of `tests/unit/test_fuzz.py` (400 examples each in the test suite) run longer,
outcomes counted (bench/hostile.py): real CT messages mutated with hostile values, any JSON, deep
nesting, surrogates, non-UTF-8 bytes into the parser and the tracker; job bodies with path
traversal, SSRF URLs, huge strings and unicode in the fields the stack acts on into the API. Every
outcome is a parse, a poison reason, a 2xx whose job is safe to run, or a 4xx with a code; a crash or
a 5xx stops the run. Schemathesis runs every check on every operation of the running local API in
`tests/e2e/test_api_schema.py` (zero 5xx; the test suite's figure).""",
    ),
)

CHAOS = Section(
    "Chaos: 300 jobs, 4 concurrent trackers, duplicates, reordering, poison, AWS faults",
    "local.chaos",
    ("--jobs", "300", "--workers", "4"),
    ("--jobs", "40", "--workers", "4"),
    """`local.chaos`: generated jobs' streams plus three the engine emits for real work on
generated media at the start of the run (four outputs completed, a corrupt input, one output
failed); every job's messages shuffled (displaced up to 30 positions), 20% duplicated,
10% of the runs with WORKFLOW_SCHEDULED delivered last, poison among them; four tracker pollers
against moto in server mode through the local SQS event source (6 s visibility timeout, DLQ after
5 receives). With faults (`local.faults`): 10% of DynamoDB requests throttled, 10% of conditional
job writes preceded by a real competing write, 5% of writes applied and then answered 500, 3% of
store writes killing their invocation (before or after the write). The baseline is the in-order
reference: every job must equal it, only the poison may reach the DLQ, no message may stay parked
unapplied (a copy of an applied message left by a death or a failed delete is counted apart and
must carry its 14-day expiry). The test suite runs both at CI size
(`tests/integration/test_chaos.py`).""",
)


def run(module: str, arguments: tuple[str, ...]) -> tuple[str, float]:
    began = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own modules, with our own arguments
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{module} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout.strip(), time.monotonic() - began


def chaos_table(arguments: tuple[str, ...]) -> tuple[str, float]:
    lines = [
        "| run | jobs (engine-recorded) | messages | duplicates | poison | invocations | died | "
        "faults injected | jobs unlike the reference | good messages dead-lettered | parked left | "
        "copies of applied messages left (expiring) | seconds | msgs/s |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    took = 0.0
    for label, extra in (("clean", ()), ("with faults", ("--faults",))):
        output, seconds = run(CHAOS.module, (*arguments, *extra))
        took += seconds
        report = json.loads(output[output.rindex("\n{\n") + 1 :] if "\n{\n" in output else output)
        faults = ", ".join(f"{k} {v}" for k, v in report["faults"].items()) or "-"
        lines.append(
            f"| {label} | {report['jobs']} ({len(report['engine_jobs'])}) | {report['messages']} | "
            f"{report['duplicates']} | "
            f"{report['poison']} | {report['invocations']} | {report['failed_invocations']} | {faults} | "
            f"{len(report['mismatched'])} | {len(report['unexpected_dead_letters'])} | "
            f"{report['parked_left']} | {report['parked_copies']} | {report['seconds']:.0f} | "
            f"{report['messages'] / report['seconds']:.1f} |"
        )
        verdicts.append(
            f"target ({label}) every job equals the in-order reference, only poison dead-lettered, "
            f"nothing left parked: {'met' if report['ok'] else 'NOT met'}"
        )
    return "\n".join([*lines, "", *verdicts]), took


def machine() -> str:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores{memory}; "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def revision() -> str:
    """The commit measured (``-dirty`` when the working tree had changes), or ``unknown`` outside git."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=7"],  # noqa: S607 - git on PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return described.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (not for the record)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--only",
        action="append",
        metavar="MODULE",
        help="rerun only this section (e.g. bench.ladder; repeatable); the others are kept from the report",
    )
    args = parser.parse_args(argv)
    began = time.monotonic()
    commit = revision()  # before the report is rewritten: that change is not what is measured
    sections = (*SECTIONS, CHAOS)
    kept = kept_parts(args.output, sections) if args.only else {}
    first_run = _run_line(args.output) if args.only else None
    earlier = _earlier_reruns(args.output, sections) if args.only else {}
    parts: list[Part] = []

    def write() -> None:
        report = document(
            parts, len(sections), began, quick=args.quick, commit=commit, first_run=first_run, earlier=earlier
        )
        args.output.write_text(report)

    for section in sections:
        if args.only and section.module not in args.only:
            if section.title in kept:
                parts.append(kept[section.title])
            continue
        arguments = section.quick if args.quick else section.full
        print(f"running {section.module} {' '.join(arguments)} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            output, seconds = chaos_table(arguments) if section is CHAOS else run(section.module, arguments)
        except (RuntimeError, ValueError) as failure:  # one broken section must not cost the others
            output, seconds = f"target the section runs: NOT met\n\n{failure}", time.monotonic() - started
        parts.append(Part(section, arguments, output, seconds, rerun=bool(args.only)))
        # Written after every section: a run stopped part-way keeps what it measured, and says so.
        write()
    write()
    print(f"wrote {args.output}", file=sys.stderr)
    return 1 if any("NOT met" in line for _, line in targets(parts)) else 0


@dataclass(frozen=True)
class Part:
    section: Section
    arguments: tuple[str, ...]
    output: str
    seconds: float
    rerun: bool = False  # rerun alone (--only), after the run the other sections come from


def _run_line(report: Path) -> str | None:
    found = re.search(r"^\* Run: .*$", report.read_text(), flags=re.MULTILINE) if report.exists() else None
    return found[0] if found else None


def _earlier_reruns(report: Path, sections: tuple[Section, ...]) -> dict[str, str]:
    """Section title -> when it was last rerun alone, from the report's rerun lines."""
    if not report.exists():
        return {}
    when_rerun = {}
    for found in re.finditer(
        r"^\* Rerun alone afterwards \(`--only`\), (.+? UTC(?:, on commit \S+)?): (.*)\.$",
        report.read_text(),
        re.M,
    ):
        for section in sections:  # matched by title: a title may hold "; " itself
            if section.title in found[2]:
                when_rerun[section.title] = found[1]
    return when_rerun


def kept_parts(report: Path, sections: tuple[Section, ...]) -> dict[str, Part]:
    """The sections of an existing report, as they were measured (for --only)."""
    if not report.exists():
        return {}
    text = report.read_text()
    kept = {}
    for section in sections:
        heading = rf"^## {re.escape(section.title)}\n\n"
        command = r"`python -m (\S+)([^`]*)` \(([\d.]+) min\)\n\n"
        found = re.search(heading + command + r"```\n(.*?)\n```", text, flags=re.MULTILINE | re.DOTALL)
        if found:
            arguments = tuple(found[2].split())
            kept[section.title] = Part(section, arguments, found[4], float(found[3]) * 60)
    return kept


def targets(parts: list[Part]) -> list[tuple[str, str]]:
    return [
        (part.section.title, line)
        for part in parts
        for line in part.output.splitlines()
        if line.startswith(("target", "goal"))
    ]


def document(
    parts: list[Part],
    planned: int,
    began: float,
    *,
    quick: bool,
    commit: str = "unknown",
    first_run: str | None = None,
    earlier: dict[str, str] | None = None,
) -> str:
    """The report; ``commit``: what was measured; ``first_run``: the run line of the report the kept
    sections come from (--only); ``earlier``: when its kept sections were rerun alone, if they were."""
    now = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    status = "" if len(parts) == planned else f" (**incomplete: {len(parts)} of {planned} sections so far**)"
    run_line = first_run or (
        f"* Run: {now}, in {(time.monotonic() - began) / 60:.0f} minutes, on commit {commit}{status}"
        + (" (**--quick: smaller sizes, not the record**)" if quick else "")
    )
    when_rerun = {title: when for title, when in (earlier or {}).items() if first_run}
    when_rerun.update({part.section.title: f"{now}, on commit {commit}" for part in parts if part.rerun})
    reruns = {
        when: [part.section.title for part in parts if when_rerun.get(part.section.title) == when]
        for when in sorted(set(when_rerun.values()))
    }
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.report`): every section below ran in this one run,",
        "each figure next to its baseline measured in the same run. Do not edit by hand; rerun instead.",
        "",
        run_line,
        *(
            f"* Rerun alone afterwards (`--only`), {when}: {'; '.join(titles)}."
            for when, titles in reruns.items()
            if first_run and titles
        ),
        f"* Machine: {machine()}. Shared and noisy: compare the ratios, not the absolute times.",
        "* Rerun one section with the command under its title (it prints the same table).",
        "",
        "## Targets",
        "",
        "| section | target | result |",
        "|---|---|---|",
    ]
    for title, line in targets(parts):
        name, result = line.split(":", 1)
        lines.append(f"| {title} | {name} | {result.strip()} |")
    for part in parts:
        command = " ".join(("python -m", part.section.module, *part.arguments))
        lines += [
            "",
            f"## {part.section.title}",
            "",
            f"`{command}` ({part.seconds / 60:.1f} min)",
            "",
            "```",
            part.output,
            "```",
            "",
            part.section.reading,
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
