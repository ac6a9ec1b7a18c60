"""The Lambda asset's size: unzipped (what counts against Lambda's 250 MB limit and what a cold
start maps) and zipped (what is uploaded), as deployed and without pruning.

    python -m bench.asset_size

Builds the asset exactly as ``cdk synth`` does (arm64 wheels for the runtime's Python, bytecode when
a local interpreter of that version exists), once pruned (infra.bundling.PRUNED) and once not.
Every function of the stack (API, tracker, authorizer, notifier, webhook delivery) runs from this
one asset. Target: <= 15 MB unzipped.
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
        for pruned in (True, False):
            bundle = Path(directory) / ("pruned" if pruned else "full")
            bundle.mkdir()
            build_bundle(
                bundle, platform=PLATFORM, python_version=version, compile_with=interpreter, pruned=pruned
            )
            rows.append((pruned, *sizes(bundle)))
    print(f"Lambda asset ({PLATFORM}, python{version}, bytecode: {'yes' if interpreter else 'no'})")
    print(f"{'asset':<38} {'unzipped MB':>12} {'zipped MB':>10} {'target':>8}")
    for pruned, unzipped, zipped, _ in rows:
        name = "functions (all five functions)" if pruned else "  same, unpruned (for comparison)"
        verdict = ("ok" if unzipped / 1e6 <= TARGET_MB else "OVER") if pruned else ""
        print(f"{name:<38} {unzipped / 1e6:>12.2f} {zipped / 1e6:>10.2f} {verdict:>8}")
    print("\nlargest parts of the deployed asset (unzipped MB):")
    for name, size in rows[0][3].most_common(8):
        print(f"  {name:<32} {size / 1e6:>6.2f}")


if __name__ == "__main__":
    main()
