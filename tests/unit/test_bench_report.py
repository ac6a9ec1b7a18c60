"""bench.report's record of sections rerun alone (--only): each keeps the time it was measured."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from bench import report

SECTIONS = (*report.SECTIONS, report.CHAOS)


def test_a_rerun_keeps_the_record_of_the_sections_rerun_before(tmp_path: Path):
    first, second = SECTIONS[0], SECTIONS[1]
    parts = [report.Part(section, section.full, "| a | 1 |", 60.0) for section in SECTIONS[:3]]
    earlier = report.document(parts, len(SECTIONS), time.monotonic(), quick=False)
    saved = tmp_path / "benchmarks.md"
    # As a report whose first section was rerun alone at an earlier time, and whose title holds "; ".
    run_line = next(line for line in earlier.splitlines() if line.startswith("* Run:"))
    saved.write_text(
        earlier.replace(
            run_line, f"{run_line}\n* Rerun alone afterwards (`--only`), 2026-01-02 03:04 UTC: {first.title}."
        )
    )
    assert report._earlier_reruns(saved, SECTIONS) == {first.title: "2026-01-02 03:04 UTC"}
    kept = report.kept_parts(saved, SECTIONS)
    now = [
        dataclasses.replace(kept[s.title], rerun=True) if s is second else kept[s.title] for s in SECTIONS[:3]
    ]
    text = report.document(
        now,
        len(SECTIONS),
        time.monotonic(),
        quick=False,
        commit="abc1234-dirty",
        first_run=report._run_line(saved),
        earlier=report._earlier_reruns(saved, SECTIONS),
    )
    lines = [line for line in text.splitlines() if line.startswith("* Rerun alone")]
    assert lines[0] == f"* Rerun alone afterwards (`--only`), 2026-01-02 03:04 UTC: {first.title}."
    assert len(lines) == 2 and lines[1].endswith(f"UTC, on commit abc1234-dirty: {second.title}.")
    # Read back, a rerun keeps both records, the one that names its commit and the one that did not.
    saved.write_text(text)
    reruns = report._earlier_reruns(saved, SECTIONS)
    assert reruns[first.title] == "2026-01-02 03:04 UTC"
    assert reruns[second.title].endswith("UTC, on commit abc1234-dirty")
