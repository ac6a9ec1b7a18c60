"""The console's transfer size: what a browser downloads on the first load (index.html, config.json,
the entry script, its stylesheet and preloaded chunks) and when a player opens (hls.js, loaded on
demand), gzipped as CloudFront serves them (level 6), from the built files (`make console`).

    python -m bench.console_size

Target (issue 19): the first load, hls.js included, at most 300 KB gzipped.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

DIST = Path(__file__).resolve().parent.parent / "console" / "dist"
TARGET_KB = 300.0
# What index.html makes the browser fetch at once: its script, stylesheets, preloaded modules.
_FETCHED = re.compile(r'<(?:script[^>]*\bsrc|link[^>]*\bhref)="\.?/?([^"]+)"')


@dataclass(frozen=True)
class Asset:
    name: str
    raw: int
    gzipped: int
    first_load: bool


def assets(dist: Path = DIST) -> list[Asset]:
    index = dist / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing: run `make console` first")
    fetched = {"index.html", "config.json", *_FETCHED.findall(index.read_text(encoding="utf-8"))}
    found = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        name = path.relative_to(dist).as_posix()
        data = path.read_bytes()
        found.append(Asset(name, len(data), len(gzip.compress(data, compresslevel=6)), name in fetched))
    return found


def kb(size: int) -> str:
    return f"{size / 1000:.1f}"


def main() -> None:
    listed = assets()
    first = sum(a.gzipped for a in listed if a.first_load)
    everything = sum(a.gzipped for a in listed)
    print("| file | bytes | gzipped (KB) | when |")
    print("|---|---:|---:|---|")
    for asset in listed:
        when = "first load" if asset.first_load else "on demand (the player: hls.js)"
        print(f"| `{asset.name}` | {asset.raw:,} | {kb(asset.gzipped)} | {when} |")
    print(f"| **first load** | | **{kb(first)}** | |")
    print(f"| **everything (first load and hls.js)** | | **{kb(everything)}** | |")
    print()
    verdict = "met" if everything <= TARGET_KB * 1000 else "NOT met"
    print(
        f"target: the first load with hls.js <= {TARGET_KB:.0f} KB gzipped: {kb(everything)} KB, {verdict} "
        f"(without hls.js, loaded when a player opens: {kb(first)} KB)"
    )


if __name__ == "__main__":
    main()
