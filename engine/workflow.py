"""One run of a job in this process: the fan-out (engine.fanout) on an in-memory state and work
queue, its tasks run one after the other until the run ends. The same steps as on AWS, in the same
order a single worker would take them; for tests, the chaos run's recorded streams and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from engine.activities import EngineOptions
from engine.errors import ActivityError, error_of
from engine.fanout import MAX_TASK_ATTEMPTS, Engine, FanoutOptions
from engine.reporting import RunReporter
from engine.state import MemoryEngineState, RunRecord
from engine.storage import Storage
from functions.messaging.memory import MemoryQueue

JsonObject = dict[str, object]


@dataclass(frozen=True)
class Outcome:
    run_id: str
    workflow_id: str
    error: ActivityError | None

    @property
    def completed(self) -> bool:
        return self.error is None


def run_job(
    data: dict[str, object],
    reporter: RunReporter,
    storage: Storage,
    options: EngineOptions,
    fanout: FanoutOptions | None = None,
) -> Outcome:
    """Run the START_JOB ``data`` (with ``workflow`` and ``client``), reporting through ``reporter``
    (its ids are the run's); ``fanout`` cuts long VIDEO outputs into spans, as on AWS."""
    state, work = MemoryEngineState(), MemoryQueue()
    run = RunRecord(reporter.run_id, reporter.job_id, reporter.workflow_id, dict(data), reporter.clock())
    state.start_run(run)

    def reporters(_: RunRecord, watch: object) -> RunReporter:
        reporter.watch = watch  # type: ignore[assignment]
        return reporter

    engine = Engine(
        state=state,
        work=work,
        reporters=reporters,
        storage=storage,
        options=options,
        fanout=fanout or FanoutOptions(),
        clock=reporter.clock,
    )
    engine.start(run)
    while work.sent:
        body = work.sent.pop(0)
        for attempt in range(1, MAX_TASK_ATTEMPTS + 1):
            try:
                engine.task(body, attempt)
                break
            except Exception:
                if attempt == MAX_TASK_ATTEMPTS:
                    raise
    failure = state.runs[run.run_id].failure
    return Outcome(run.run_id, run.workflow_id, None if failure is None else error_of(failure))
