"""What the fanned-out engine remembers between invocations, and the conditions that make every
step safe to repeat (SQS delivers at least once, in any order):

* a run is started once per START_JOB message (its id comes from the message's id);
* its plan is set once (the first validation to finish wins; a repeated one reads it back), and
  once its tasks are sent the run says so, so that a repeated validation does not send them again;
* an output's parts (spans, audio) are kept by name, the first report of each holding, so a part
  done twice counts once; exactly one report completes the set (the one that sends the join);
* an output ends once (the first outcome holds: a result, or a failure) and every later report
  for it repeats that outcome; the run has ended once every output has, and its end is reported
  until it is marked reported (a crash in between reports it twice, which the tracker absorbs;
  the other way round could lose it);
* a cancel is remembered by job id (it may come before its START_JOB).

The interface and its in-memory twin are here; the DynamoDB store is engine.state_dynamo.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
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
    """An output's parts done so far (name -> what its task recorded), how many it has, and
    whether the report that returned this completed the set (the one that sends the join)."""

    parts: dict[str, dict[str, Any]]
    total: int
    completed_now: bool = False
    repeated: bool = False  # the part was recorded before: its task was delivered again

    def next_stage_due(self, done: bool) -> bool:
        """Whether this report sends the next stage: the one that completed the set, or (``done``:
        the set is complete) a repeated report, whose task may have failed after the set
        completed and before its send (a repeat sends again; the next stage is idempotent)."""
        return self.completed_now or (self.repeated and done)

    @property
    def complete(self) -> bool:
        return self.total > 0 and len(self.parts) >= self.total

    def infos(self) -> list[dict[str, Any]]:
        return [{"name": name, **self.parts[name]} for name in sorted(self.parts)]


@dataclass(frozen=True)
class OutputEnd:
    """The outcome that holds for an output (``{"result": ...}`` or ``{"failure": {reason,
    details}}``), and the run's end if every output has now ended and it is not reported yet."""

    outcome: dict[str, Any]
    run_end: RunEnded | None


@dataclass(frozen=True)
class RunEnded:
    """The run's every output has ended; ``failure`` is the first one's, if any failed."""

    failure: dict[str, Any] | None


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
        them again, which the parts absorb; the other way round would lose them)."""
        ...

    def add_part(self, run_id: str, output: int, name: str, info: dict[str, Any], total: int) -> PartsDone:
        """Record a part done (the first ``info`` for a ``name`` holds) of an output that has
        ``total`` parts; the parts done since."""
        ...

    def parts(self, run_id: str, output: int) -> PartsDone: ...

    def end_output(self, run_id: str, output: int, outcome: dict[str, Any], outputs: int) -> OutputEnd:
        """End an output with ``outcome`` unless it ended already; count it in the run's ended
        outputs (its ``outputs``). Safe to repeat: a redelivered task calls it again."""
        ...

    def ended_outcome(self, run_id: str, output: int) -> dict[str, Any] | None:
        """The output's outcome, if it has ended."""
        ...

    def mark_reported(self, run_id: str) -> None:
        """Record that the run's end was reported."""
        ...

    def request_cancel(self, job_id: str, at: float) -> None: ...

    def cancel_requested(self, job_id: str) -> bool: ...


@dataclass
class _Run:
    record: RunRecord
    ended_outputs: set[int] = field(default_factory=set)
    failure: dict[str, Any] | None = None
    reported: bool = False


@dataclass
class _Output:
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: int = 0
    outcome: dict[str, Any] | None = None


class MemoryEngineState:
    """The in-memory twin, with the same conditions (tests and one-process use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[str, _Run] = {}
        self.outputs: dict[tuple[str, int], _Output] = {}
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
                run.record = replace(run.record, plan=json.loads(json.dumps(plan)))
            assert run.record.plan is not None  # noqa: S101 - set just above
            return run.record.plan

    def mark_dispatched(self, run_id: str) -> None:
        with self._lock:
            run = self.runs[run_id]
            run.record = replace(run.record, dispatched=True)

    def add_part(self, run_id: str, output: int, name: str, info: dict[str, Any], total: int) -> PartsDone:
        with self._lock:
            state = self.outputs.setdefault((run_id, output), _Output())
            new = name not in state.parts
            state.parts.setdefault(name, json.loads(json.dumps(info)))
            state.total = total
            completed_now = new and len(state.parts) == total
            return PartsDone(dict(state.parts), total, completed_now, repeated=not new)

    def parts(self, run_id: str, output: int) -> PartsDone:
        with self._lock:
            state = self.outputs.get((run_id, output), _Output())
            return PartsDone(dict(state.parts), state.total)

    def end_output(self, run_id: str, output: int, outcome: dict[str, Any], outputs: int) -> OutputEnd:
        with self._lock:
            state = self.outputs.setdefault((run_id, output), _Output())
            if state.outcome is None:
                state.outcome = json.loads(json.dumps(outcome))
            run = self.runs[run_id]
            run.ended_outputs.add(output)
            if run.failure is None and state.outcome.get("failure") is not None:
                run.failure = state.outcome["failure"]
            done = len(run.ended_outputs) >= outputs and not run.reported
            return OutputEnd(state.outcome, RunEnded(run.failure) if done else None)

    def ended_outcome(self, run_id: str, output: int) -> dict[str, Any] | None:
        with self._lock:
            state = self.outputs.get((run_id, output))
            return state.outcome if state else None

    def mark_reported(self, run_id: str) -> None:
        with self._lock:
            self.runs[run_id].reported = True

    def request_cancel(self, job_id: str, at: float) -> None:
        with self._lock:
            self.cancels.setdefault(job_id, at)

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self.cancels
