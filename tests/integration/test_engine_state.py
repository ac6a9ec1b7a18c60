"""The engine's state: the same contract on the DynamoDB store (moto) and its in-memory twin, the
conditions that make each fanned-out step safe to repeat."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from engine.state import EngineState, MemoryEngineState, RunRecord
from engine.state_dynamo import DynamoEngineState
from local.resources import create_engine_table
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration
RUN = RunRecord("run-1", "job-1", "wf-1", {"input_asset": {"type": "VIDEO"}}, 100.0)


@pytest.fixture(params=["memory", "dynamodb"])
def state(request: pytest.FixtureRequest) -> Iterator[EngineState]:
    if request.param == "memory":
        yield MemoryEngineState()
        return
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb", region_name=REGION)
    create_engine_table(client, "engine-state")
    yield DynamoEngineState(client, "engine-state", clock=lambda: 1_000.0)


def test_a_run_is_started_once_and_read_back(state: EngineState):
    assert state.start_run(RUN) is True
    assert state.start_run(RUN) is False  # a redelivered START_JOB
    assert state.get_run("run-1") == RUN
    assert state.get_run("nobody") is None


def test_the_first_plan_holds(state: EngineState):
    state.start_run(RUN)
    assert state.set_plan("run-1", {"outputs": 2}) == {"outputs": 2}
    assert state.set_plan("run-1", {"outputs": 3}) == {"outputs": 2}  # a repeated validation
    run = state.get_run("run-1")
    assert run is not None and run.plan == {"outputs": 2} and not run.dispatched
    state.mark_dispatched("run-1")
    state.mark_dispatched("run-1")  # a repeat changes nothing
    run = state.get_run("run-1")
    assert run is not None and run.dispatched and run.plan == {"outputs": 2}


def test_exactly_one_report_completes_an_output_whatever_the_order_and_repeats(state: EngineState):
    state.start_run(RUN)
    spans = {f"span-{n}": {"frames": 10 * n} for n in range(3)}
    order = ["span-2", "span-0", "span-2", "audio"]
    seen = [state.add_part("run-1", 0, name, spans.get(name, {"present": True}), total=4) for name in order]
    assert [(done.complete, done.completed_now) for done in seen] == [(False, False)] * 4
    done = state.add_part("run-1", 0, "span-1", spans["span-1"], total=4)
    assert (done.complete, done.completed_now, len(done.parts)) == (True, True, 4)
    again = state.add_part("run-1", 0, "span-1", spans["span-1"], total=4)  # the last part redelivered
    assert (again.complete, again.completed_now) == (True, False)  # a second join is never sent
    assert [info["name"] for info in done.infos()] == ["audio", "span-0", "span-1", "span-2"]
    assert state.parts("run-1", 0).parts == done.parts
    assert not state.parts("run-1", 1).complete


def test_a_part_is_counted_by_its_name_and_its_first_report_holds(state: EngineState):
    """A span encoded again (a retry after a lost answer) may report other figures: it is still
    one span, and the join reads the first report's."""
    state.start_run(RUN)
    state.add_part("run-1", 0, "span-0", {"frames": 250}, total=2)
    done = state.add_part("run-1", 0, "span-0", {"frames": 249}, total=2)
    assert (len(done.parts), done.parts["span-0"], done.completed_now) == (1, {"frames": 250}, False)


def test_an_output_ends_once_and_the_run_end_is_repeated_until_it_is_marked_reported(state: EngineState):
    state.start_run(RUN)
    failure = {"reason": "TRANSCODE_FAIL", "details": "span 3"}
    assert state.end_output("run-1", 1, {"failure": failure}, outputs=3).run_end is None
    late = state.end_output("run-1", 1, {"result": "late"}, outputs=3)
    assert late.outcome == {"failure": failure} and late.run_end is None  # the first outcome holds
    assert state.ended_outcome("run-1", 1) == {"failure": failure}
    assert state.ended_outcome("run-1", 0) is None
    assert state.end_output("run-1", 0, {"result": {"outputs": []}}, outputs=3).run_end is None
    ended = state.end_output("run-1", 2, {"result": {}}, outputs=3)
    assert ended.run_end is not None and ended.run_end.failure == failure
    repeated = state.end_output("run-1", 2, {"result": {}}, outputs=3)  # the report was lost: again
    assert repeated.run_end == ended.run_end and repeated.outcome == {"result": {}}
    state.mark_reported("run-1")
    assert state.end_output("run-1", 2, {"result": {}}, outputs=3).run_end is None


def test_a_cancel_is_remembered_by_job_even_before_its_run(state: EngineState):
    assert not state.cancel_requested("job-1")
    state.request_cancel("job-1", 5.0)
    state.request_cancel("job-1", 6.0)
    assert state.cancel_requested("job-1") and not state.cancel_requested("job-2")
