"""What the fanned-out engine remembers between invocations, and the conditions that make every
step safe to repeat (SQS delivers at least once, in any order):

* a run is started once per START_JOB message (its id comes from the message's id);
* its plan is set once (the first validation to finish wins; a repeated one reads it back), and
  once its tasks are sent the run says so, so that a repeated validation does not send them again;
* an output's parts (spans, audio) are added to a set, so a part done twice counts once, and the
  output is complete when the set holds every part;
* an output ends once (the first outcome wins), and the run ends, and is reported, once: when every
  output has ended;
* a cancel is remembered by job id (it may come before its START_JOB).

The interface and its in-memory twin are here; the DynamoDB store is engine.state_dynamo.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

RUN_TTL_SECONDS = 7 * 24 * 3600  # the state of a run is of no use once its messages are read


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job_id: str
    workflow_id: str
    data: dict[str, Any]  # START_JOB's data, as sent (WORKFLOW_SCHEDULED echoes it)
    started_at: float
    plan: dict[str, Any] | None = None  # set by the validation: what every task needs
    dispatched: bool = False  # the plan's tasks were sent


@dataclass(frozen=True)
class PartsDone:
    """An output's parts done so far (each a JSON document naming it) and whether that is all."""

    parts: frozenset[str]
    total: int
    ended: bool

    @property
    def complete(self) -> bool:
        return self.total > 0 and len(self.parts) >= self.total and not self.ended

    def infos(self) -> list[dict[str, Any]]:
        return sorted((json.loads(part) for part in self.parts), key=lambda info: str(info["name"]))


@dataclass(frozen=True)
class RunEnded:
    """The run's every output has ended; ``failure`` is the first one's, if any failed."""

    failure: dict[str, Any] | None


def part(name: str, **info: Any) -> str:
    """A part as the set keeps it: the same part done twice is the same string."""
    return json.dumps({"name": name, **info}, sort_keys=True, separators=(",", ":"))


class EngineState(Protocol):
    def start_run(self, run: RunRecord) -> bool:
        """Record a new run; False if it was recorded already (a redelivered START_JOB)."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def set_plan(self, run_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        """Set the run's plan unless one is set; returns the plan that holds."""
        ...

    def mark_dispatched(self, run_id: str) -> None:
        """Record that the run's tasks were sent (after sending them: a crash in between sends
        them again, which the parts' set absorbs; the other way round would lose them)."""
        ...

    def add_part(self, run_id: str, output: int, part: str, total: int) -> PartsDone:
        """Add a part done to an output that has ``total`` parts; the parts done since."""
        ...

    def parts(self, run_id: str, output: int) -> PartsDone: ...

    def end_output(self, run_id: str, output: int, outcome: dict[str, Any], outputs: int) -> RunEnded | None:
        """End an output (the first outcome holds; ``{"failure": ...}`` for a failed one). Returns
        the run's end the one time every one of its ``outputs`` has ended, None otherwise."""
        ...

    def output_ended(self, run_id: str, output: int) -> bool: ...

    def request_cancel(self, job_id: str, at: float) -> None: ...

    def cancel_requested(self, job_id: str) -> bool: ...


@dataclass
class _Run:
    record: RunRecord
    ended_outputs: set[int] = field(default_factory=set)
    failure: dict[str, Any] | None = None
    reported: bool = False


class MemoryEngineState:
    """The in-memory twin, with the same conditions (tests and one-process use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[str, _Run] = {}
        self.outputs: dict[tuple[str, int], dict[str, Any]] = {}
        self.cancels: dict[str, float] = {}

    def start_run(self, run: RunRecord) -> bool:
        with self._lock:
            if run.run_id in self.runs:
                return False
            self.runs[run.run_id] = _Run(run)
            return True

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self.runs.get(run_id)
            return run.record if run else None

    def set_plan(self, run_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self.runs[run_id]
            if run.record.plan is None:
                run.record = RunRecord(**{**run.record.__dict__, "plan": json.loads(json.dumps(plan))})
            assert run.record.plan is not None  # noqa: S101 - set just above
            return run.record.plan

    def mark_dispatched(self, run_id: str) -> None:
        with self._lock:
            run = self.runs[run_id]
            run.record = RunRecord(**{**run.record.__dict__, "dispatched": True})

    def add_part(self, run_id: str, output: int, part: str, total: int) -> PartsDone:
        with self._lock:
            state = self.outputs.setdefault((run_id, output), {"parts": set(), "total": total, "ended": None})
            state["parts"].add(part)
            state["total"] = total
            return PartsDone(frozenset(state["parts"]), total, state["ended"] is not None)

    def parts(self, run_id: str, output: int) -> PartsDone:
        with self._lock:
            state = self.outputs.get((run_id, output), {"parts": set(), "total": 0, "ended": None})
            return PartsDone(frozenset(state["parts"]), state["total"], state["ended"] is not None)

    def end_output(self, run_id: str, output: int, outcome: dict[str, Any], outputs: int) -> RunEnded | None:
        with self._lock:
            state = self.outputs.setdefault((run_id, output), {"parts": set(), "total": 0, "ended": None})
            if state["ended"] is None:
                state["ended"] = outcome
            run = self.runs[run_id]
            run.ended_outputs.add(output)
            if run.failure is None and state["ended"].get("failure") is not None:
                run.failure = state["ended"]["failure"]
            if len(run.ended_outputs) >= outputs and not run.reported:
                run.reported = True
                return RunEnded(run.failure)
            return None

    def output_ended(self, run_id: str, output: int) -> bool:
        with self._lock:
            state = self.outputs.get((run_id, output))
            return state is not None and state["ended"] is not None

    def request_cancel(self, job_id: str, at: float) -> None:
        with self._lock:
            self.cancels.setdefault(job_id, at)

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self.cancels
