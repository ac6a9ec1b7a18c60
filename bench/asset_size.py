"""The Lambda asset's size: unzipped (what counts against Lambda's 250 MB limit and what a cold
start maps) and zipped (what is uploaded), as deployed and without pruning.

    python -m bench.asset_size

Builds the asset exactly as ``cdk synth`` does (arm64 wheels for the runtime's Python, bytecode when
a local interpreter of that version exists), once pruned (infra.bundling.PRUNED) and once not.
Every function of the stack but the engine's (API, tracker, authorizer, notifier, webhook delivery,
watchdog) runs from this one asset. Target: <= 15 MB unzipped. The engine's functions run from a
second asset, this one plus the engine and PyAV (FFmpeg's libraries): target <= 150 MB unzipped,
Lambda's limit 250 MB.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from infra.bundling import build_bundle, bytecode_wanted, find_interpreter
from infra.lambda_defaults import RUNTIME

TARGET_MB = 15.0
ENGINE_TARGET_MB = 150.0
LAMBDA_LIMIT_MB = 250.0
PLATFORM = "manylinux2014_aarch64"


def sizes(bundle: Path) -> tuple[int, int, Counter[str]]:
    files = [path for path in bundle.rglob("*") if path.is_file()]
    by_top: Counter[str] = Counter()
    for path in files:
        by_top[path.relative_to(bundle).parts[0]] += path.stat().st_size
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(bundle))
    return sum(by_top.values()), len(buffer.getvalue()), by_top


def main() -> None:
    version = RUNTIME.name.removeprefix("python")
    interpreter = find_interpreter(version) if bytecode_wanted() else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="asset-size-") as directory:
        for name, pruned, engine in (
            ("functions (every function but the engine's)", True, False),
            ("  same, unpruned (for comparison)", False, False),
            ("engine (the functions', the engine, PyAV)", True, True),
        ):
            bundle = Path(directory) / f"{pruned}-{engine}"
            bundle.mkdir()
            build_bundle(
                bundle,
                platform=PLATFORM,
                python_version=version,
                compile_with=interpreter,
                pruned=pruned,
                engine=engine,
            )
            rows.append((name, pruned, engine, *sizes(bundle)))
    print(f"Lambda assets ({PLATFORM}, python{version}, bytecode: {'yes' if interpreter else 'no'})")
    print()
    print("| asset | unzipped MB | zipped MB | target |")
    print("|---|---:|---:|---:|")
    for name, pruned, engine, unzipped, zipped, _ in rows:
        target = ENGINE_TARGET_MB if engine else TARGET_MB
        verdict = f"<= {target:g} MB" if pruned else ""
        print(f"| {name} | {unzipped / 1e6:.2f} | {zipped / 1e6:.2f} | {verdict} |")
    for name, part in (("functions", rows[0]), ("engine", rows[2])):
        print()
        print(f"largest parts of the {name} asset (unzipped MB): ", end="")
        print(", ".join(f"{top} {size / 1e6:.2f}" for top, size in part[5].most_common(6)))
    print()
    functions_mb, engine_mb = rows[0][3] / 1e6, rows[2][3] / 1e6
    verdict = _verdict(functions_mb, TARGET_MB)
    print(f"target functions asset <= {TARGET_MB:g} MB unzipped: {functions_mb:.2f} MB ({verdict})")
    print(
        f"target engine asset <= {ENGINE_TARGET_MB:g} MB unzipped (Lambda's limit {LAMBDA_LIMIT_MB:g}): "
        f"{engine_mb:.2f} MB ({_verdict(engine_mb, ENGINE_TARGET_MB)})"
    )


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


if __name__ == "__main__":
    main()
