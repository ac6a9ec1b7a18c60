"""How long the README's two commands take here, once the environment exists: the main job
(`make run`: the local stack and the sample job end to end) and the whole test suite (`make
test`'s pytest run, after its lint, type check and console build). Measured, not promised: the
README points here instead of quoting times that go stale.

    python -m bench.run_times [--skip-tests]

Each runs in a fresh process, as `make` runs it. Creating the environments on a fresh clone
(`.venv`, `node_modules`, the console's build, Chromium) comes on top: it depends on the
registries' speed more than on this machine's.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> tuple[float, str]:
    began = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    elapsed = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}")
    return elapsed, result.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-tests", action="store_true", help="time the main job only")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpe-run-") as out:
        seconds, output = timed([sys.executable, "-m", "local.run", "--out", out])
    ready = re.search(r"ready in ([\d.]+) s", output)
    rows.append(("`make run`: the sample job end to end (python -m local.run)", seconds))
    if ready:
        rows.append(
            ("  of which: the local stack ready (moto, the template deployed, the handlers)", float(ready[1]))
        )
    if not args.skip_tests:
        seconds, output = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
        passed = re.search(r"(\d+) passed", output)
        label = f"`make test`'s test run ({passed[1] if passed else '?'} tests; lint and build not included)"
        rows.append((label, seconds))
    print("| what | wall s | minutes |")
    print("|---|---:|---:|")
    for label, value in rows:
        print(f"| {label} | {value:.0f} | {value / 60:.1f} |")


if __name__ == "__main__":
    main()
