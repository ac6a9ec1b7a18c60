"""The notifier's pure parts: change detection from old/new images, the event, the signature
(verified by the standardwebhooks package, an independent implementation) and the retry span."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from functions.jobs.model import ActivityState, ActivityStatus, Job, JobStatus, Phase, RunState
from functions.notifier.changes import state_change_event
from functions.notifier.webhooks import MAX_ATTEMPTS, backoff_seconds, retry_schedule, signed_headers
from functions.store.base import LoadedJob
from functions.store.stream import job_image

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_c2VjcmV0LWFmdGVyLXJvdGF0aW9uLTEyMzQ1Njc4"


def job(**changes: Any) -> Job:
    run = RunState(runId="r1", scheduledAt=1.0, scheduledDigest="d")
    run.activities["ValidateAssetStep"] = ActivityState(
        activityId="ValidateAssetStep", status=ActivityStatus.RUNNING
    )
    base = Job(
        jobId="j1",
        runId="r1",
        runs={"r1": run},
        status=JobStatus.RUNNING,
        phase=Phase.VALIDATING,
        progress=12,
    )
    return base.model_copy(update=changes, deep=True)


def event(old: Job | None, new: Job, version: int = 7, step: int = 10) -> dict[str, Any] | None:
    return state_change_event(
        LoadedJob(old, version - 1) if old else None, LoadedJob(new, version), progress_step=step
    )


def test_a_write_that_changes_nothing_a_user_sees_makes_no_event():
    assert event(job(), job()) is None
    assert event(job(progress=12), job(progress=17)) is None  # within the same 10% step
    assert event(job(), job(lastEventAt=99.0)) is None


def test_an_event_names_its_jobs_owner_and_carries_the_callers_metadata():
    owned = {"owner": "arn:aws:iam::123456789012:role/PeerApp", "metadata": {"videoId": 42}}
    detail = event(job(**owned), job(**owned, status=JobStatus.COMPLETED))
    assert detail is not None
    assert (detail["owner"], detail["metadata"]) == (owned["owner"], {"videoId": 42})


@pytest.mark.parametrize(
    ("update", "change"),
    [
        ({"status": JobStatus.COMPLETED}, "status"),
        ({"phase": Phase.TRANSCODING}, "phase"),
        ({"progress": 20}, "progress"),
        ({"outputs": [{"key": "o/v.mp4"}]}, "outputs"),
        ({"error": {"reason": "TRANSCODE_FAIL"}}, "error"),
    ],
)
def test_each_real_transition_makes_exactly_one_event_naming_it(update, change):
    made = event(job(), job(**update))
    assert made is not None and made["changes"] == [change]


def test_an_activity_changing_status_is_a_change():
    new = job()
    new.runs["r1"].activities["ValidateAssetStep"].status = ActivityStatus.COMPLETED
    made = event(job(), new)
    assert made is not None and made["changes"] == ["activities"]
    assert made["activities"] == {"ValidateAssetStep": "COMPLETED"}


def test_the_event_id_is_stable_per_write_and_the_sequence_is_the_items_version():
    first, again = event(None, job(), version=1), event(None, job(), version=1)
    later = event(job(), job(status=JobStatus.COMPLETED), version=2)
    assert first == again and first is not None and first["changes"] == ["created"]
    assert (
        later is not None and later["id"] != first["id"] and (first["sequence"], later["sequence"]) == (1, 2)
    )


def test_only_job_items_are_images():
    record = job().model_dump_json()
    assert job_image({"pk": "JOB#j1", "sk": "JOB", "record": record, "version": 3}) == LoadedJob(job(), 3)
    assert job_image({"pk": "RUN#r1", "sk": "LINK"}) is None and job_image(None) is None


def test_signatures_verify_with_the_standard_webhooks_library_through_a_rotation():
    body = json.dumps({"id": "evt_1", "status": "COMPLETED"})
    now = int(time.time())
    headers = signed_headers([SECRET, NEW_SECRET], "evt_1", now, body)
    for secret in (SECRET, NEW_SECRET):  # either side of the rotation accepts it
        assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("COMPLETED", "FAILED"), headers)


def test_a_stale_timestamp_is_rejected_by_the_verifier():
    body = "{}"
    stale = signed_headers([SECRET], "evt_2", int(time.time()) - 3600, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, stale)


def test_retries_span_at_least_24_hours_before_the_dlq():
    assert retry_schedule(MAX_ATTEMPTS) >= 24 * 3600
    assert retry_schedule(MAX_ATTEMPTS - 1) < 24 * 3600  # and not needlessly more attempts
    delays = [backoff_seconds(n, 0.5) for n in range(1, MAX_ATTEMPTS)]
    assert delays == sorted(delays) and max(delays) <= 6 * 3600 < 12 * 3600  # SQS's visibility limit
