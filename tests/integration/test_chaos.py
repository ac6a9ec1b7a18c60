"""The chaos run at CI size (``python -m local.chaos`` runs it bigger): jobs' streams (generated,
and three the engine emits for real work at the start of the run) shuffled, duplicated, with some
WORKFLOW_SCHEDULED last and poison among them, consumed by four concurrent trackers against moto in
server mode through the local SQS event source."""

from __future__ import annotations

import pytest

from local.chaos import FAULTS, chaos

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos")]


def test_four_concurrent_trackers_on_a_disturbed_stream_end_where_the_in_order_reference_does():
    report = chaos(jobs=60, workers=4, duplicates=0.25, seed=11)
    assert report.engine_jobs == {  # real engine streams among the generated ones
        "engine-completed": "COMPLETED",
        "engine-corrupt-input": "FAILED",
        "engine-one-output-failed": "FAILED",
    }
    assert report.duplicates > 0.1 * report.messages and report.invocations > 4
    assert report.mismatched == []  # every job equals the in-order reference
    assert report.unexpected_dead_letters == [] and report.dead_letters == report.poison  # only poison
    assert report.parked_left == 0  # nothing left waiting for its WORKFLOW_SCHEDULED
    assert report.parked_copies == 0  # and with nothing failing, no copy left behind
    assert report.failed_invocations == 0  # no invocation raised


@pytest.mark.xdist_group("chaos-faults")
def test_throttling_conflicts_lost_responses_and_killed_invocations_lose_nothing_and_repeat_nothing():
    report = chaos(jobs=40, workers=4, duplicates=0.2, seed=5, faults=FAULTS)
    assert len(report.engine_jobs) == 3
    # Every kind of fault happened, more than once.
    assert all(report.faults.get(kind, 0) > 1 for kind in ("throttled", "conflicts", "lost_responses"))
    assert report.faults["killed_invocations"] > 1
    assert report.failed_invocations == report.faults["killed_invocations"]  # each death: a redelivery
    # A message applied twice would show in the job's timeline, activities or progress.
    assert report.mismatched == []
    assert report.unexpected_dead_letters == [] and report.dead_letters == report.poison
    assert report.parked_left == 0
    # A copy of an applied message may outlive a death or a failed delete, never its expiry.
    assert report.copies_without_expiry == 0
