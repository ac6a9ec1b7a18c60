"""Property-based fuzzing with hostile input (bench/hostile.py): the output-message parser and the
tracker behind it, and the job API's payload validation. Every input gets a clear outcome: parsed,
or poison with a reason; a 2xx whose job is safe to run, or a 4xx with a machine-readable code.
Never an exception, never a 5xx. ``python -m bench.fuzz`` runs the same fuzzers longer and counts
the outcomes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from bench import hostile

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(hostile.output_bodies())
def test_any_output_message_is_parsed_or_poison_with_a_reason(body: str):
    outcome = hostile.parse_outcome(body)
    assert outcome.split()[0] in {"parsed", "poison"}


@FUZZ
@given(hostile.output_bodies())
def test_the_tracker_applies_parks_or_rejects_any_message_never_crashes(body: str):
    outcome = hostile.track_outcome(body)  # raises on a crash, or a failure without a reason
    assert outcome == "applied or parked" or outcome.startswith("rejected ")


@FUZZ
@given(hostile.submit_bodies())
def test_any_submitted_body_is_a_2xx_safe_job_or_a_4xx_with_a_code(body: bytes):
    outcome = hostile.submit_outcome(body)
    assert 200 <= int(outcome.split()[0]) < 500
