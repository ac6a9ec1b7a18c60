"""The fuzzers of tests/unit/test_fuzz.py, run longer, with their outcomes counted: how many
examples each ran and what became of them. A crash or a 5xx stops the run with the failing input.

    python -m bench.fuzz [--examples 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Lambda's environment, as the handlers read it at import (metrics off: nothing to publish to).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import hostile


@dataclass
class FuzzRun:
    name: str
    examples: int
    outcomes: Counter[str]
    seconds: float


def fuzz(
    name: str, strategy: st.SearchStrategy[Any], outcome: Callable[[Any], str], examples: int
) -> FuzzRun:
    seen: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(strategy)
    def run(value: object) -> None:
        seen[outcome(value)] += 1

    started = time.perf_counter()
    run()
    return FuzzRun(name, sum(seen.values()), seen, time.perf_counter() - started)


def fuzz_all(examples: int) -> list[FuzzRun]:
    # Rejected messages are logged, and metrics printed, as in Lambda: not wanted in the table.
    logging.disable(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            messages: Any = hostile.output_bodies()
            bodies: Any = hostile.submit_bodies()
            return [
                fuzz("output-message parser", messages, hostile.parse_outcome, examples),
                fuzz("tracker (parser + machine + store)", messages, hostile.track_outcome, examples),
                fuzz("job API: POST /jobs", bodies, hostile.submit_outcome, examples),
            ]
    finally:
        logging.disable(logging.NOTSET)


def table(runs: list[FuzzRun]) -> str:
    lines = [
        "| fuzzer | examples | crashes or 5xx | outcomes (most frequent first) |",
        "|---|---:|---:|---|",
    ]
    for run in runs:
        outcomes = ", ".join(f"{label}: {count}" for label, count in run.outcomes.most_common())
        lines.append(f"| {run.name} | {run.examples} | 0 | {outcomes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args(argv)
    print(table(fuzz_all(args.examples)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
