"""Text progress bars for a job and each of its activities (no dependency; redrawn in place on a
terminal, printed on change otherwise)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

WIDTH = 30


def bar(percent: int, width: int = WIDTH) -> str:
    filled = max(0, min(width, round(percent * width / 100)))
    return "#" * filled + "." * (width - filled)


def lines(job: dict[str, Any]) -> list[str]:
    rows = [
        f"{job['jobId']:<24} [{bar(job['progress'])}] {job['progress']:>3}%  {job['status']} / {job['phase']}"
    ]
    for activity in job.get("activities", []):
        name = f"  {activity['activityId']}"
        state = activity["status"]
        if activity.get("error"):
            state += f" ({activity['error'].get('reason')})"
        rows.append(f"{name:<24} [{bar(activity['progress'])}] {activity['progress']:>3}%  {state}")
    return rows


class ProgressView:
    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.tty = out.isatty()
        self._drawn = 0
        self._last: list[str] = []

    def update(self, job: dict[str, Any]) -> None:
        rows = lines(job)
        if rows == self._last:
            return
        if self.tty:
            if self._drawn:
                self.out.write(f"\x1b[{self._drawn}F")  # back to the first line drawn
            self.out.write("".join(f"\x1b[2K{row}\n" for row in rows))
            self._drawn = len(rows)
        else:
            changed = [row for row in rows if row not in self._last]
            self.out.write("".join(f"{row}\n" for row in changed))
        self._last = rows
        self.out.flush()
