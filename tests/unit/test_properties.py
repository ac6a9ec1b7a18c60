"""Properties of the state machine over generated CT runs, delivered as SQS does (any order, duplicates).

Each property runs 1,000 examples. A run is generated like the stack emits it (local.ct_simulator):
ValidateAsset then one TranscodeAsset per output, preparing/progress/finishing bursts, failures at
any step, with or without the Decider's messages, PHP, Decider and legacy message shapes; noise is
added (unknown types, messages naming their run by workflowId only, messages without ``time``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.jobs.machine import apply, derive, new_job
from functions.jobs.model import TERMINAL_PRECEDENCE, Job, JobStatus
from functions.jobs.protocol import OutputMessage, parse_output_message
from functions.jobs.rules import CompletionRule
from functions.store.memory import MemoryJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from local.ct_simulator import CtRun, Transcode, expected_status, run_messages

EXAMPLES = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JOB = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Delivery:
    """One message as the queue delivers it: the body and its SQS SentTimestamp."""

    body: str
    sent_at: float

    def parse(self) -> OutputMessage:
        return parse_output_message(self.body, self.sent_at)


transcodes = st.builds(
    Transcode,
    preparing=st.integers(0, 3),
    progress=st.lists(st.integers(0, 101), max_size=8).map(lambda values: tuple(sorted(values))),
    finishing=st.integers(0, 3),
)


@st.composite
def ct_runs(draw: st.DrawFn, run_id: str = "run-1/Ab=", start: float = 1_700_000_000.0) -> CtRun:
    steps = draw(st.lists(transcodes, min_size=1, max_size=3))
    fail_at = draw(st.none() | st.integers(0, len(steps)))
    return CtRun(
        job_id=JOB,
        run_id=run_id,
        workflow_id=f"wf-{run_id}",
        start=start,
        validate_preparing=draw(st.integers(0, 3)),
        transcodes=tuple(steps),
        output_list=draw(st.booleans()) or len(steps) > 1,
        decider_messages=draw(st.booleans()),
        decider_style_types=draw(st.booleans()),
        legacy_fields=draw(st.booleans()),
        fail_at=fail_at,
        fail_kind=draw(st.sampled_from(["FAILED", "TIMEOUT"])),
        step_seconds=draw(st.floats(0.001, 60)),
    )


@st.composite
def noisy(draw: st.DrawFn, run: CtRun) -> list[Delivery]:
    """The run's messages in sending order, with the noise real streams carry."""
    bodies = run_messages(run)
    deliveries = []
    for index, sent in enumerate(bodies):
        body = json.loads(json.dumps(sent))
        if index and draw(st.integers(0, 9)) == 0:
            del body["time"]  # the tracker falls back to SentTimestamp
        if index and "data" in body and draw(st.integers(0, 9)) == 0:
            del body["data"]["workflow"]["runId"]  # attributed through workflowId
        deliveries.append(Delivery(json.dumps(body), sent["time"] + 0.001))
    if draw(st.booleans()):
        unknown = {
            "time": run.start + 0.5,
            "type": "ACTIVITY_HEARTBEAT",
            "data": {"workflow": {"runId": run.run_id}},
        }
        deliveries.insert(1, Delivery(json.dumps(unknown), run.start + 0.6))
    return deliveries


@st.composite
def disordered(draw: st.DrawFn, deliveries: list[Delivery]) -> list[Delivery]:
    """Any permutation, with any duplicates."""
    copies = draw(st.lists(st.sampled_from(deliveries), max_size=len(deliveries)))
    return draw(st.permutations([*deliveries, *copies]))


class Consumer:
    """Applies deliveries one at a time, parking messages of runs not scheduled yet (as the tracker
    does), and derives the view after each."""

    def __init__(self) -> None:
        self.job: Job = new_job(JOB)
        self.parked: list[OutputMessage] = []

    def deliver(self, delivery: Delivery) -> None:
        self._apply(delivery.parse())
        derive(self.job, CompletionRule())

    def _run_of(self, message: OutputMessage) -> str | None:
        if message.run_id in self.job.runs:
            return message.run_id
        return next((r.runId for r in self.job.runs.values() if r.workflowId == message.workflow_id), None)

    def _apply(self, message: OutputMessage) -> None:
        if message.link is not None:
            apply(self.job, message)
            waiting, self.parked = self.parked, []
            for parked in waiting:
                self._apply(parked)
            return
        run_id = self._run_of(message)
        if run_id is None:
            self.parked.append(message)
        else:
            apply(self.job, message, run_id)


def consume(deliveries: list[Delivery]) -> Consumer:
    consumer = Consumer()
    for delivery in deliveries:
        consumer.deliver(delivery)
    return consumer


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[CtRun, list[Delivery], list[Delivery]]:
    run = draw(ct_runs())
    in_order = draw(noisy(run))
    return run, in_order, draw(disordered(in_order))


@EXAMPLES
@given(scenarios())
def test_any_order_with_any_duplicates_gives_the_in_order_record(scenario):
    _, in_order, delivered = scenario
    reference = consume(in_order)
    assert not reference.parked
    assert consume(delivered).job == reference.job


@EXAMPLES
@given(scenarios())
def test_nothing_moves_backwards_at_any_step(scenario):
    _, _, delivered = scenario
    consumer = Consumer()
    previous: Job | None = None
    for delivery in delivered:
        consumer.deliver(delivery)
        job = consumer.job
        if previous is not None:
            assert job.progress >= previous.progress
            if previous.status.is_terminal:
                assert job.status.is_terminal
                assert TERMINAL_PRECEDENCE.index(job.status) >= TERMINAL_PRECEDENCE.index(previous.status)
            for run_id, run in previous.runs.items():
                for activity_id, before in run.activities.items():
                    after = job.runs[run_id].activities[activity_id]
                    assert after.status.rank >= before.status.rank
                    assert after.progress >= before.progress
        views = {view.runId: view for view in job.runViews}
        assert (job.progress == 100) == (job.runId is not None and views[job.runId].completionEvidence)
        assert job.status is not JobStatus.COMPLETED or job.progress == 100
        for run in job.runs.values():
            for activity in run.activities.values():
                assert 0 <= activity.progress <= 100
                assert activity.progress < 100 or activity.completed
        previous = job.model_copy(deep=True)


@EXAMPLES
@given(scenarios())
def test_final_status_follows_the_settled_rules(scenario):
    run, _, delivered = scenario
    job = consume(delivered).job
    assert job.status.value == expected_status(run)
    assert job.phase.value == job.status.value
    assert job.runId == run.run_id
    assert job.clientName == run.client_name
    if run.fail_at != 0:
        assert job.probe is not None
        assert job.probe["mime"] == "video/mp4"
    if run.fail_at is None:
        assert job.progress == 100
        assert len(job.outputs) == len(run.transcodes)
    else:
        assert job.progress < 100
        assert job.error is not None
        assert job.error["reason"]


@st.composite
def two_runs(draw: st.DrawFn) -> tuple[list[Delivery], list[Delivery]]:
    """A duplicated START_JOB: two runs of one job, scheduled at different times."""
    first = draw(ct_runs(run_id="run-A/x=", start=1_700_000_000.0))
    second = draw(ct_runs(run_id="run-B/y=", start=1_700_000_000.0 + draw(st.floats(-5, 5))))
    second = replace(second, workflow_id="wf-second")
    in_order = sorted(
        [*draw(noisy(first)), *draw(noisy(second))], key=lambda d: json.loads(d.body).get("time", d.sent_at)
    )
    return in_order, draw(disordered(in_order))


@EXAMPLES
@given(two_runs())
def test_several_runs_in_any_order_give_the_in_order_record(runs):
    in_order, delivered = runs
    reference = consume(in_order).job
    job = consume(delivered).job
    assert job == reference
    completed = [v for v in job.runViews if v.status is JobStatus.COMPLETED]
    assert (job.status is JobStatus.COMPLETED) == bool(completed)


def _batches(data: st.DataObject, deliveries: list[Delivery]) -> list[list[Delivery]]:
    sizes = data.draw(st.lists(st.integers(1, 12), min_size=len(deliveries), max_size=len(deliveries)))
    batches, position = [], 0
    for size in sizes:
        if position >= len(deliveries):
            break
        batches.append(deliveries[position : position + size])
        position += size
    return batches


@EXAMPLES
@given(scenarios(), st.booleans(), st.data())
def test_the_tracker_gives_the_in_order_record_whatever_the_batches(scenario, scheduled_last, data):
    _, in_order, delivered = scenario
    if scheduled_last:  # WORKFLOW_SCHEDULED delayed to the very end
        delivered = sorted(delivered, key=lambda d: '"WORKFLOW_SCHEDULED"' in d.body)
    store = MemoryJobStore(inline_limit=512)
    tracker = BatchTracker(store, CompletionRule(), clock=lambda: 0.0, sleep=lambda _: None)
    counter = iter(range(10**6))
    for batch in _batches(data, delivered):
        report = tracker.track([InboundMessage(f"m{next(counter)}", d.body, d.sent_at) for d in batch])
        assert not report.failures
    stored = store.jobs[JOB].job
    reference = consume(in_order).job
    assert stored.model_dump(exclude={"runs", "payload"}) == reference.model_dump(exclude={"runs", "payload"})
    assert _facts_without_values(stored) == _facts_without_values(reference)
    assert not store.parked_messages


def _facts_without_values(job: Job) -> dict[str, Any]:
    """The facts, with reported values compared by digest (the store may hold them elsewhere)."""
    facts = job.model_dump(mode="json")
    for run in facts["runs"].values():
        for activity in run["activities"].values():
            for key in ("result", "error"):
                if activity[key]:
                    activity[key] = activity[key]["digest"]
    facts["payload"] = facts["payload"]["digest"] if facts["payload"] else None
    return facts
