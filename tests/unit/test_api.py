"""The job API through its Lambda handler, with the in-memory store and queue: every route, status
code and error shape."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bench.hostile import API_CONFIG
from functions.api import handler as api
from functions.api.edge import MAX_BODY_BYTES
from functions.api.errors import InProgress
from functions.api.media import MediaAccess, MediaConfig, owner_key
from functions.api.models import SubmitJobRequest
from functions.api.service import ApiConfig, JobService
from functions.jobs.errors import StorageUnavailable
from functions.jobs.machine import apply, derive
from functions.jobs.owners import Caller, OwnerPolicy
from functions.jobs.protocol import MessageType as M
from functions.jobs.rules import CompletionRule
from functions.messaging.base import QueueUnavailable
from functions.messaging.memory import MemoryQueue
from functions.store.base import JobQuery
from functions.store.memory import MemoryJobStore
from functions.watchdog.logic import Watchdog
from local.apigateway import LOCAL_CALLER, call, proxy_event, response_parts
from local.event_source import LambdaContext
from tests.builders import act, parsed, scheduled

CALLER = Caller(LOCAL_CALLER, API_CONFIG.client_name)
CONFIG = API_CONFIG
PUBLIC_DNS = {
    "media.example.com": ["93.184.216.34"],
    "hooks.example.com": ["93.184.216.35"],
    "sneaky.example.com": ["10.0.0.7"],
}
VIDEO_JOB = {
    "input_asset": {"type": "VIDEO", "bucket": "site-uploads", "file": "/input/video1.mp4"},
    "output_asset": {
        "type": "VIDEO",
        "bucket": "site-media",
        "file": "/output/video1.mp4",
        "preset": "720p-generic",
    },
}


def _dns(host: str) -> list[str]:
    if host not in PUBLIC_DNS:
        raise socket.gaierror(f"no such host {host}")
    return PUBLIC_DNS[host]


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_300_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


class RecordingPresigner:
    """Presigns as S3 would shape it, and remembers what it was asked (S3's checks of the form and
    the links are the local stack's: tests/e2e/test_browser_api.py)."""

    def __init__(self) -> None:
        self.forms: list[dict[str, Any]] = []

    def post(
        self, bucket: str, key: str, *, fields: dict[str, str], conditions: list[Any], expires_in: int
    ) -> dict[str, Any]:
        self.forms.append({"bucket": bucket, "key": key, "conditions": conditions, "expires_in": expires_in})
        return {"url": f"https://{bucket}.s3.amazonaws.com/", "fields": {**fields, "key": key, "policy": "p"}}

    def get(self, bucket: str, key: str, *, expires_in: int) -> str:
        return f"https://{bucket}.s3.amazonaws.com/{key}?X-Amz-Expires={expires_in}"


class MemoryObjects:
    """The media bucket's objects the API reads (playlists)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def read(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        body = self.objects.get((bucket, key))
        return None if body is None else body[: max_bytes + 1]


MEDIA = MediaConfig("stack-media", max_upload_bytes=1000, upload_seconds=600, link_seconds=120)


class Api:
    def __init__(self, config: ApiConfig = CONFIG, *, media: MediaConfig | None = None) -> None:
        self.store = MemoryJobStore()
        self.queue = MemoryQueue()
        self.clock = Clock()
        self.presigner = RecordingPresigner()
        self.objects = MemoryObjects()
        ids = iter(f"job{n:04d}" for n in range(10_000))
        uploads = iter(f"up{n:04d}" for n in range(10_000))
        self.service = JobService(
            self.store,
            self.queue,
            config,
            CompletionRule(),
            clock=self.clock,
            new_id=lambda: next(ids),
            resolve=_dns,
            media=MediaAccess(
                media, self.presigner, self.objects, clock=self.clock, new_id=lambda: next(uploads)
            )
            if media
            else None,
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        principal: str | None = LOCAL_CALLER,
    ) -> tuple[int, dict[str, str], Any]:
        return call(api.handler, method, path, body, headers=headers, query=query, principal=principal)

    def submit(
        self, body: dict[str, Any] | None = None, *, principal: str = LOCAL_CALLER, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        return self.call("POST", "/jobs", body or VIDEO_JOB, headers=headers, principal=principal)


@pytest.fixture
def client() -> Iterator[Api]:
    yield from _client(CONFIG)


def _client(config: ApiConfig) -> Iterator[Api]:
    client = Api(config)
    api.app.dependency_overrides[api.get_service] = lambda: client.service
    yield client
    api.app.dependency_overrides.clear()


def sent(client: Api) -> list[dict[str, Any]]:
    return [json.loads(body) for body in client.queue.sent]


def error(body: Any) -> tuple[str, str]:
    assert set(body) == {"code", "message", "details"}
    assert isinstance(body["message"], str) and body["message"]
    return body["code"], body["message"]


# ------------------------------------------------------------------ POST /jobs


def test_submit_records_the_job_and_sends_start_job_as_the_php_sdk(client: Api):
    status, headers, body = client.submit()
    assert status == 202
    assert headers["Location"] == "/prod/jobs/job0000"
    assert headers["Idempotent-Replayed"] == "false"
    assert (body["jobId"], body["status"], body["phase"], body["progress"], body["clientName"]) == (
        "job0000",
        "SUBMITTED",
        "QUEUED",
        0,
        "SiteA",
    )
    assert body["dispatchedAt"] is not None
    (message,) = sent(client)
    assert list(message) == ["time", "type", "jobId", "data"]
    assert (message["type"], message["jobId"]) == ("START_JOB", "job0000")
    assert message["data"] == {
        "workflow": CONFIG.workflow,
        **VIDEO_JOB,
        "client": {
            "name": "SiteA",
            "queues": {"input": CONFIG.input_queue_url, "output": CONFIG.output_queue_url},
        },
    }
    assert "\\/input\\/video1.mp4" in client.queue.sent[0]  # escaped as PHP's json_encode does
    assert body["payload"] == {"workflow": CONFIG.workflow, **VIDEO_JOB}


def test_keys_the_ct_job_does_not_know_pass_through_in_order_and_metadata_stays_with_the_job(client: Api):
    body = {
        "plan": {"steps": ["probe", "publish"]},  # a custom CPE workflow's own key
        **VIDEO_JOB,
        "metadata": {"videoId": 42, "uploader": "u-7", "public": True},
        "priority": "high",
    }
    status, _, job = client.submit(body)
    assert status == 202
    (message,) = sent(client)
    # As sent, in order, the stack's workflow first (the PHP SDK's default); metadata is not CPE's.
    assert list(message["data"]) == ["workflow", "plan", "input_asset", "output_asset", "priority", "client"]
    assert (
        message["data"]["plan"] == {"steps": ["probe", "publish"]} and message["data"]["priority"] == "high"
    )
    assert job["metadata"] == {"videoId": 42, "uploader": "u-7", "public": True}
    assert client.call("GET", f"/jobs/{job['jobId']}")[2]["metadata"] == job["metadata"]
    assert client.call("GET", "/jobs")[2]["items"][0]["metadata"] == job["metadata"]
    named = {**body, "jobId": "site:7"}
    assert client.submit(named)[0] == 202
    status, _, refused = client.submit({**named, "metadata": {"videoId": 43}})  # same id, other metadata
    assert (status, error(refused)[0]) == (409, "JOB_ID_TAKEN")
    assert len(sent(client)) == 2


def test_a_request_with_the_schemas_most_keys_is_accepted(client: Api):
    body = {**VIDEO_JOB, **{f"k{n}": n for n in range(28)}}  # 30 keys: maxProperties, not over it
    assert client.submit(body)[0] == 202


SA_WORKFLOW = {
    "name": "SATranscodeAssets",
    "version": "1.0",
    "taskList": "sa_transcode_assets",
    "domain": "SADomain",
}


def test_submit_keeps_the_callers_workflow_and_job_id():
    client = next(_client(ApiConfig(**{**CONFIG.__dict__, "other_workflows": (SA_WORKFLOW,)})))
    try:
        status, headers, body = client.submit({**VIDEO_JOB, "workflow": SA_WORKFLOW, "jobId": "site:42"})
        assert (status, body["jobId"], headers["Location"]) == (202, "site:42", "/prod/jobs/site:42")
        assert sent(client)[0]["data"]["workflow"] == SA_WORKFLOW
    finally:
        api.app.dependency_overrides.clear()


def test_a_workflow_the_stack_does_not_list_is_refused(client: Api):
    for workflow in (
        SA_WORKFLOW,  # not listed on this stack
        {**CONFIG.workflow, "domain": "AnotherDomain"},
        {**CONFIG.workflow, "taskList": "somebody_elses_tasks"},
    ):
        status, _, body = client.submit({**VIDEO_JOB, "workflow": workflow})
        assert (status, error(body)[0], body["details"][0]["loc"]) == (
            400,
            "INVALID_REQUEST",
            ["body", "workflow"],
        )
    assert client.queue.sent == []
    same = {**CONFIG.workflow, "executionStartToCloseTimeout": 3600}  # the stack's, its timeout aside
    assert client.submit({**VIDEO_JOB, "workflow": same})[0] == 202


def test_submit_with_several_outputs(client: Api):
    outputs = [
        {
            "type": "THUMB",
            "bucket": "site-media",
            "file": "/thumbs/v.jpg",
            "mode": "snapshot",
            "snapshot_sec": 5,
            "size": "-1:159",
        },
        {"type": "VIDEO", "bucket": "site-media", "file": "/hls/v.m3u8", "preset": "hls600k-generic"},
    ]
    status, _, _ = client.submit({"input_asset": VIDEO_JOB["input_asset"], "output_assets": outputs})
    assert status == 202
    assert sent(client)[0]["data"]["output_assets"] == outputs


def test_the_same_idempotency_key_returns_the_original_job_and_sends_nothing(client: Api):
    first = client.submit(**{"Idempotency-Key": "upload-7"})
    second = client.submit(**{"Idempotency-Key": "upload-7"})
    assert (first[0], second[0]) == (202, 202)
    assert second[1]["Idempotent-Replayed"] == "true"
    assert second[2]["jobId"] == first[2]["jobId"]
    assert len(client.queue.sent) == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(client: Api):
    client.submit(**{"Idempotency-Key": "upload-7"})
    other = {
        **VIDEO_JOB,
        "input_asset": {"type": "VIDEO", "bucket": "site-uploads", "file": "/input/other.mp4"},
    }
    status, _, body = client.submit(other, **{"Idempotency-Key": "upload-7"})
    assert (status, error(body)[0]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert len(client.queue.sent) == 1


def test_the_same_job_id_replays_or_conflicts(client: Api):
    client.submit({**VIDEO_JOB, "jobId": "mine-1"})
    status, headers, body = client.submit({**VIDEO_JOB, "jobId": "mine-1"})
    assert (status, headers["Idempotent-Replayed"], body["jobId"]) == (202, "true", "mine-1")
    other = {**VIDEO_JOB, "jobId": "mine-1", "callbackUrl": "https://hooks.example.com/cpe"}
    status, _, body = client.submit(other)
    assert (status, error(body)[0]) == (409, "JOB_ID_TAKEN")
    assert len(client.queue.sent) == 1


def test_a_job_id_the_tracker_created_is_taken(client: Api):
    job_id = "954e8de9dfa0d44d1e2f21eda6881e74"
    _track(client, scheduled(1, job_id=job_id))
    status, _, body = client.submit({**VIDEO_JOB, "jobId": job_id})
    assert (status, error(body)[0]) == (409, "JOB_ID_TAKEN")


def test_a_failed_send_leaves_no_job_and_a_retry_works(client: Api):
    client.queue.failures.append(QueueUnavailable("SQS InternalError"))
    status, _, body = client.submit(**{"Idempotency-Key": "k"})
    assert (status, error(body)[0]) == (503, "QUEUE_UNAVAILABLE")
    assert client.store.jobs == {}
    assert client.call("GET", "/jobs/job0000")[0] == 404
    status, _, body = client.submit(**{"Idempotency-Key": "k"})
    assert (status, body["status"]) == (202, "SUBMITTED")
    assert len(client.queue.sent) == 1


def test_a_throttled_queue_is_a_429(client: Api):
    client.queue.failures.append(QueueUnavailable("SQS ThrottlingException", throttled=True))
    status, _, body = client.submit()
    assert (status, error(body)[0]) == (429, "THROTTLED")


def test_a_replay_dispatches_a_job_whose_first_request_died_before_sending(client: Api):
    status, _, body = client.submit({**VIDEO_JOB, "jobId": "orphan"})
    stored = client.store.jobs["orphan"]
    stored.job.dispatchedAt = None  # as if the process died between writing the job and sending
    client.queue.sent.clear()
    status, headers, body = client.submit({**VIDEO_JOB, "jobId": "orphan"})
    # Within the grace period the first request may still be sending (and may yet fail and remove
    # the job): the replay is told to retry, never that the job was accepted.
    assert (status, error(body)[0], headers["Retry-After"]) == (409, "REQUEST_IN_PROGRESS", "2")
    assert client.queue.sent == []
    client.clock.now += 120
    status, _, body = client.submit({**VIDEO_JOB, "jobId": "orphan"})
    assert (status, len(client.queue.sent), body["dispatchedAt"] is not None) == (202, 1, True)


@pytest.mark.parametrize(
    ("body", "code", "loc"),
    [
        ("{not json", "INVALID_JSON", None),
        ('{"input_asset": NaN}', "INVALID_JSON", None),
        ('{"output_asset": {"snapshot_sec": 1' + "0" * 5000 + "}}", "INVALID_JSON", None),
        ('{"output_asset": {"snapshot_sec": 1e999}}', "INVALID_JSON", None),
        ("[" * 5000 + "]" * 5000, "INVALID_JSON", None),
        ([1, 2], "INVALID_REQUEST", None),
        ({}, "INVALID_REQUEST", ["body", "input_asset"]),
        ({**VIDEO_JOB, "input_asset": {**VIDEO_JOB["input_asset"], "extra": 1}}, "INVALID_REQUEST", None),
        ({**VIDEO_JOB, "bad key!": 1}, "INVALID_REQUEST", ["body"]),
        ({**VIDEO_JOB, "client": {"name": "Spoofed"}}, "INVALID_REQUEST", ["body"]),
        ({**VIDEO_JOB, **{f"k{n}": n for n in range(29)}}, "INVALID_REQUEST", ["body"]),
        ({**VIDEO_JOB, "metadata": {"notes": "x" * 501}}, "INVALID_REQUEST", ["body", "metadata", "notes"]),
        ({**VIDEO_JOB, "metadata": {"a b": 1}}, "INVALID_REQUEST", ["body", "metadata", "a b", "[key]"]),
        ({**VIDEO_JOB, "metadata": {"nested": {"a": 1}}}, "INVALID_REQUEST", None),
        ({**VIDEO_JOB, "metadata": {f"k{n}": n for n in range(21)}}, "INVALID_REQUEST", ["body", "metadata"]),
        ({**VIDEO_JOB, "metadata": ["not", "an", "object"]}, "INVALID_REQUEST", ["body", "metadata"]),
        ({**VIDEO_JOB, "output_assets": [VIDEO_JOB["output_asset"]]}, "INVALID_REQUEST", ["body"]),
        ({"input_asset": VIDEO_JOB["input_asset"]}, "INVALID_REQUEST", ["body"]),
        (
            {**VIDEO_JOB, "input_asset": {"type": "IMAGE", "bucket": "site-uploads", "file": "/i.jpg"}},
            "INVALID_REQUEST",
            ["body"],
        ),
        (
            {**VIDEO_JOB, "input_asset": {"type": "VIDEO", "bucket": "Bad_Bucket", "file": "/v.mp4"}},
            "INVALID_REQUEST",
            ["body", "input_asset", "bucket"],
        ),
        (
            {
                **VIDEO_JOB,
                "input_asset": {"type": "VIDEO", "bucket": "site-uploads", "file": "/in/../../etc/passwd"},
            },
            "INVALID_REQUEST",
            ["body", "input_asset", "file"],
        ),
        (
            {**VIDEO_JOB, "input_asset": {"type": "VIDEO", "bucket": "site-uploads", "file": "a\x00b"}},
            "INVALID_REQUEST",
            ["body", "input_asset", "file"],
        ),
        (
            {
                **VIDEO_JOB,
                "input_asset": {"type": "VIDEO", "bucket": "s", "file": "/v.mp4", "http": "https://x"},
            },
            "INVALID_REQUEST",
            ["body", "input_asset"],
        ),
        (
            {**VIDEO_JOB, "output_asset": {**VIDEO_JOB["output_asset"], "frame_rate": 1e9}},
            "INVALID_REQUEST",
            ["body", "output_asset", "frame_rate"],
        ),
        (
            {**VIDEO_JOB, "output_asset": {**VIDEO_JOB["output_asset"], "video_bitrate": "lots"}},
            "INVALID_REQUEST",
            ["body", "output_asset", "video_bitrate"],
        ),
        ({**VIDEO_JOB, "jobId": "../x"}, "INVALID_REQUEST", ["body", "jobId"]),
        (
            {
                **VIDEO_JOB,
                "output_assets": None,
                "output_asset": {**VIDEO_JOB["output_asset"], "type": "PDF"},
            },
            "INVALID_REQUEST",
            ["body", "output_asset", "type"],
        ),
    ],
)
def test_bad_bodies_are_400_with_the_field_named(client: Api, body: Any, code: str, loc: list[str] | None):
    status, _, answer = client.call("POST", "/jobs", body)
    assert (status, error(answer)[0]) == (400, code)
    if loc is not None:
        assert any(problem["loc"][: len(loc)] == loc for problem in answer["details"]), answer["details"]
    assert client.store.jobs == {} and client.queue.sent == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v.mp4",
        "http://localhost:8080/v.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/v.mp4",
        "http://[::ffff:10.0.0.1]/v.mp4",
        "http://10.1.2.3/v.mp4",
        "http://192.168.0.10/v.mp4",
        "http://100.64.0.1/v.mp4",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://sneaky.example.com/v.mp4",
        "http://user:secret@media.example.com/v.mp4",
        "ftp://media.example.com/v.mp4",
        "file:///etc/passwd",
        "http://unknown.invalid/v.mp4",
    ],
)
def test_input_urls_that_reach_inside_are_refused(client: Api, url: str):
    body = {**VIDEO_JOB, "input_asset": {"type": "VIDEO", "http": url}}
    status, _, answer = client.call("POST", "/jobs", body)
    assert (status, error(answer)[0]) == (400, "INVALID_REQUEST")
    assert answer["details"][0]["loc"] == ["body", "input_asset", "http"]


def test_public_input_urls_are_accepted(client: Api):
    body = {**VIDEO_JOB, "input_asset": {"type": "VIDEO", "http": "https://media.example.com/v.mp4?sig=1"}}
    assert client.call("POST", "/jobs", body)[0] == 202


def test_only_the_local_endpoints_the_stack_names_are_trusted():
    config = ApiConfig(**{**CONFIG.__dict__, "trusted_url_hosts": frozenset({"127.0.0.1:9000"})})
    client = next(_client(config))
    try:
        for url, expected in (
            ("http://127.0.0.1:9000/v.mp4", 202),
            ("http://127.0.0.1:9001/v.mp4", 400),  # another local port: not named, not trusted
            ("http://169.254.169.254/latest/meta-data", 400),
        ):
            body = {**VIDEO_JOB, "input_asset": {"type": "VIDEO", "http": url}}
            assert client.call("POST", "/jobs", body)[0] == expected, url
    finally:
        api.app.dependency_overrides.clear()


def test_callback_urls_must_be_public_https(client: Api):
    for url, expected in (
        ("http://hooks.example.com/x", 400),
        ("https://10.0.0.1/x", 400),
        ("https://hooks.example.com/x", 202),
    ):
        status, _, body = client.submit({**VIDEO_JOB, "callbackUrl": url})
        assert status == expected, body
    assert body["callbackUrl"] == "https://hooks.example.com/x"


def test_custom_commands_are_refused_unless_enabled(client: Api):
    command = {
        **VIDEO_JOB,
        "output_asset": {**VIDEO_JOB["output_asset"], "custom_cmd": "ffmpeg -i ${input_file}"},
    }
    status, _, body = client.submit(command)
    assert (status, body["details"][0]["loc"]) == (400, ["body", "output_asset", "custom_cmd"])
    enabled = next(_client(ApiConfig(**{**CONFIG.__dict__, "allow_custom_cmd": True})))
    try:
        assert enabled.submit(command)[0] == 202
    finally:
        api.app.dependency_overrides.clear()


def test_a_body_over_the_limit_is_413(client: Api):
    body = json.dumps({**VIDEO_JOB, "jobId": "x", "pad": "y" * MAX_BODY_BYTES})
    status, _, answer = client.call("POST", "/jobs", body)
    assert (status, error(answer)[0]) == (413, "PAYLOAD_TOO_LARGE")


def test_a_body_that_is_not_utf8_is_400(client: Api):
    event = proxy_event("POST", "/jobs", body=b"\x94\xff{}", headers={"Content-Type": "application/json"})
    status, _, raw = response_parts(api.handler(event, LambdaContext(function_name="api")))
    assert (status, error(json.loads(raw))[0]) == (400, "INVALID_JSON")


def test_a_body_that_is_not_json_is_415(client: Api):
    status, _, answer = client.call("POST", "/jobs", "a=b", headers={"Content-Type": "text/plain"})
    assert (status, error(answer)[0]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_an_idempotency_key_over_255_characters_is_refused(client: Api):
    status, _, answer = client.submit(**{"Idempotency-Key": "k" * 256})
    assert (status, error(answer)[0]) == (400, "INVALID_REQUEST")


# ------------------------------------------------------------------ GET /jobs/{jobId}


def _track(client: Api, *bodies: dict[str, Any]) -> None:
    """Apply CPE messages to a stored job, as the tracker would."""
    first = parsed(bodies[0])
    job_id = first.job_id or next(iter(client.store.jobs))
    loaded = client.store.get_jobs([job_id]).get(job_id)
    from functions.jobs.machine import new_job  # noqa: PLC0415

    job = loaded.job if loaded else new_job(job_id)
    for body in bodies:
        apply(job, parsed(body))
    derive(job, CompletionRule())
    from functions.store.base import LoadedJob  # noqa: PLC0415

    client.store.save_job(loaded or LoadedJob(job, None), job, [], {}, client.clock())


def test_get_returns_the_job_record_with_activities_probe_and_outputs(client: Api):
    _, _, submitted = client.submit({**VIDEO_JOB, "jobId": "j1"})
    from local.ct_simulator import ffprobe_result  # noqa: PLC0415

    _track(
        client,
        scheduled(1, job_id="j1", run_id="r1"),
        act(M.ACTIVITY_STARTED, "ValidateAssetStep", 2, run_id="r1"),
        act(M.ACTIVITY_COMPLETED, "ValidateAssetStep", 3, run_id="r1", result=ffprobe_result()),
        act(
            M.ACTIVITY_PROGRESS,
            "TranscodeAssetStep",
            4,
            run_id="r1",
            result={"duration": 60, "done": 30, "progress": 50},
        ),
    )
    status, _, job = client.call("GET", "/jobs/j1")
    assert status == 200
    assert (job["status"], job["phase"], job["progress"], job["runId"]) == (
        "RUNNING",
        "TRANSCODING",
        55,
        "r1",
    )
    assert [a["activityId"] for a in job["activities"]] == ["ValidateAssetStep", "TranscodeAssetStep"]
    assert job["activities"][0]["result"] is None and job["activities"][0]["resultSize"] > 1000
    assert job["probe"]["streams"][0]["width"] == 1280
    assert job["runs"][0]["status"] == "RUNNING"
    assert job["createdAt"] == submitted["createdAt"]
    status, _, full = client.call("GET", "/jobs/j1", query={"include": "results"})
    assert full["activities"][0]["result"] == ffprobe_result()


def test_unknown_and_malformed_job_ids(client: Api):
    status, _, body = client.call("GET", "/jobs/nope")
    assert (status, error(body)[0]) == (404, "JOB_NOT_FOUND")
    status, _, body = client.call("GET", "/jobs/a%20b")
    assert (status, error(body)[0]) == (400, "INVALID_REQUEST")
    status, _, body = client.call("GET", "/jobs/j1", query={"include": "everything"})
    assert (status, error(body)[0]) == (400, "INVALID_REQUEST")


# ------------------------------------------------------------------ GET /jobs


def test_list_is_newest_first_with_filters_and_pages(client: Api):
    for n in range(5):
        client.submit({**VIDEO_JOB, "jobId": f"j{n}"})
    _track(
        client,
        scheduled(1, job_id="j1", run_id="r1"),
        act(M.ACTIVITY_STARTED, "ValidateAssetStep", 2, run_id="r1"),
    )
    status, _, page = client.call("GET", "/jobs", query={"limit": "2"})
    assert status == 200
    assert [j["jobId"] for j in page["items"]] == ["j4", "j3"]
    status, _, rest = client.call("GET", "/jobs", query={"limit": "3", "nextToken": page["nextToken"]})
    assert [j["jobId"] for j in rest["items"]] == ["j2", "j1", "j0"] and rest["nextToken"] is None
    _, _, running = client.call("GET", "/jobs", query={"status": "RUNNING"})
    assert [j["jobId"] for j in running["items"]] == ["j1"]
    created = {j: client.store.jobs[j].job.createdAt for j in ("j1", "j3")}
    window = {"createdAfter": _rfc3339(created["j1"]), "createdBefore": _rfc3339(created["j3"])}
    _, _, middle = client.call("GET", "/jobs", query=window)
    assert [j["jobId"] for j in middle["items"]] == ["j2", "j1"]


def _rfc3339(at: float) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(at, UTC).isoformat()


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"status": "DONE"},
        {"createdAfter": "yesterday"},
        {"nextToken": "not-a-token"},
        {"nextToken": "eyJhZnRlciI6IjEyMyJ9"},
    ],
)
def test_list_refuses_bad_parameters(client: Api, query: dict[str, str]):
    status, _, body = client.call("GET", "/jobs", query=query)
    assert (status, error(body)[0]) == (400, "INVALID_REQUEST")


def test_a_token_only_continues_the_query_it_came_from(client: Api):
    for n in range(3):
        client.submit({**VIDEO_JOB, "jobId": f"j{n}"})
    _, _, page = client.call("GET", "/jobs", query={"limit": "1"})
    status, _, body = client.call(
        "GET", "/jobs", query={"limit": "1", "status": "SUBMITTED", "nextToken": page["nextToken"]}
    )
    assert (status, error(body)[0]) == (400, "INVALID_REQUEST")


def test_the_store_is_queried_through_its_index_with_the_filters(
    client: Api, monkeypatch: pytest.MonkeyPatch
):
    seen: list[JobQuery] = []
    original = client.store.list_jobs
    monkeypatch.setattr(client.store, "list_jobs", lambda query: seen.append(query) or original(query))
    client.call("GET", "/jobs", query={"status": "FAILED", "limit": "7"})
    assert seen == [JobQuery(limit=7, owner=LOCAL_CALLER, status="FAILED")]  # the caller's jobs


# ------------------------------------------------------------------ GET /jobs/{jobId}/events


def test_events_are_the_timeline_in_pages(client: Api):
    client.submit({**VIDEO_JOB, "jobId": "j1"})
    _track(
        client,
        scheduled(1, job_id="j1", run_id="r1"),
        act(M.ACTIVITY_STARTED, "ValidateAssetStep", 2, run_id="r1"),
        *[
            act(M.ACTIVITY_PROGRESS, "ValidateAssetStep", 2 + i / 10, run_id="r1", result={"progress": i})
            for i in range(50)
        ],
        act(M.ACTIVITY_COMPLETED, "ValidateAssetStep", 9, run_id="r1", result={}),
    )
    _, _, first = client.call("GET", "/jobs/j1/events", query={"limit": "3"})
    _, _, second = client.call(
        "GET", "/jobs/j1/events", query={"limit": "3", "nextToken": first["nextToken"]}
    )
    events = [e["event"] for e in first["items"] + second["items"]]
    # The CPE messages of this test are timed near the epoch, before the submission.
    assert events == [
        "WORKFLOW_SCHEDULED",
        "ACTIVITY_STARTED",
        "ACTIVITY_PROGRESS",
        "ACTIVITY_COMPLETED",
        "SUBMITTED",
    ]
    assert first["nextToken"] is not None and second["nextToken"] is None
    assert client.call("GET", "/jobs/nope/events")[0] == 404
    other = client.call("GET", "/jobs/j1/events", query={"nextToken": "eyJvZmZzZXQiOjN9"})
    assert (other[0], error(other[2])[0]) == (400, "INVALID_REQUEST")


# ------------------------------------------------------------------ POST /jobs/{jobId}/cancel


def test_cancel_marks_the_job_and_sends_cancel_job(client: Api):
    client.submit({**VIDEO_JOB, "jobId": "j1"})
    _track(client, scheduled(1, job_id="j1", run_id="r1"))
    status, _, job = client.call("POST", "/jobs/j1/cancel")
    assert (status, job["cancelRequested"], job["status"]) == (202, True, "SCHEDULED")
    message = sent(client)[-1]
    assert (message["type"], message["jobId"], message["data"]["runId"]) == ("CANCEL_JOB", "j1", "r1")
    assert message["data"]["workflow"] == CONFIG.workflow and message["data"]["client"]["name"] == "SiteA"
    _track(client, act(M.ACTIVITY_FAILED, "ValidateAssetStep", 5, run_id="r1", result={"reason": "CANCELED"}))
    assert client.call("GET", "/jobs/j1")[2]["status"] == "CANCELED"


def test_cancel_of_a_finished_or_unknown_job(client: Api):
    client.submit({**VIDEO_JOB, "jobId": "j1"})
    _track(
        client,
        scheduled(1, job_id="j1", run_id="r1"),
        act(M.ACTIVITY_COMPLETED, "TranscodeAssetStep", 2, run_id="r1", result={}),
    )
    status, _, body = client.call("POST", "/jobs/j1/cancel")
    assert (status, error(body)[0]) == (409, "JOB_FINISHED")
    assert client.call("POST", "/jobs/nope/cancel")[0] == 404


def test_a_job_the_watchdog_ended_may_still_be_canceled_to_stop_its_work(client: Api):
    client.submit({**VIDEO_JOB, "jobId": "j1"})
    _track(client, scheduled(1, job_id="j1", run_id="r1"))
    client.clock.now += 3 * 3600
    Watchdog(client.store, CompletionRule(), 3600, client.clock).sweep()
    assert client.call("GET", "/jobs/j1")[2]["status"] == "TIMED_OUT"
    status, _, job = client.call("POST", "/jobs/j1/cancel")
    assert (status, job["status"], job["cancelRequested"]) == (202, "CANCELED", True)
    assert sent(client)[-1]["type"] == "CANCEL_JOB"
    _track(client, act(M.ACTIVITY_FAILED, "ValidateAssetStep", 5, run_id="r1", result={"reason": "x"}))
    again = client.call("POST", "/jobs/j1/cancel")  # ended by its own report now
    assert (again[0], error(again[2])[0]) == (409, "JOB_FINISHED")


def test_a_cancel_that_cannot_be_sent_is_withdrawn(client: Api):
    client.submit({**VIDEO_JOB, "jobId": "j1"})
    client.queue.failures.append(QueueUnavailable("SQS InternalError"))
    status, _, body = client.call("POST", "/jobs/j1/cancel")
    assert (status, error(body)[0]) == (503, "QUEUE_UNAVAILABLE")
    assert client.call("GET", "/jobs/j1")[2]["cancelRequested"] is False


# ------------------------------------------------------------------ everything else


def test_unknown_routes_are_404_and_unknown_methods_405(client: Api):
    status, _, body = client.call("GET", "/nothing")
    assert (status, error(body)[0]) == (404, "NOT_FOUND")
    for method, path, allow in (("DELETE", "/jobs/j1", "GET"), ("PUT", "/jobs", "GET, POST")):
        status, headers, body = client.call(method, path)
        assert (status, error(body)[0], headers["Allow"]) == (405, "METHOD_NOT_ALLOWED", allow)


def test_a_path_with_a_control_character_names_no_route(client: Api):
    client.submit()
    # Found by schemathesis: Powertools' route patterns end in "$", which also matches before a
    # final newline, so these answered the job list and job0000.
    for path in ("/jobs/\n", "/jobs\n", "/jobs/job0000\n", "/jobs/job0000/events\n", "/jobs/job\x000"):
        status, _, body = client.call("GET", path)
        assert (status, error(body)[0]) == (404, "NOT_FOUND"), path


def test_storage_failures_are_503_or_429_never_500(client: Api, monkeypatch: pytest.MonkeyPatch):
    for detail, throttled, expected in (
        ("ProvisionedThroughputExceededException", True, (429, "THROTTLED")),
        ("InternalServerError", False, (503, "STORE_UNAVAILABLE")),
    ):

        def broken(job_ids: Any, detail: str = detail, throttled: bool = throttled) -> Any:
            raise StorageUnavailable(detail, throttled=throttled)

        monkeypatch.setattr(client.store, "get_jobs", broken)
        status, _, body = client.call("GET", "/jobs/j1")
        assert (status, error(body)[0]) == expected


def test_an_unexpected_error_is_a_clean_500(client: Api, monkeypatch: pytest.MonkeyPatch):
    def defect(job_ids: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(client.store, "get_jobs", defect)
    status, _, body = client.call("GET", "/jobs/j1")
    assert (status, body) == (
        500,
        {"code": "INTERNAL_ERROR", "message": "an unexpected error occurred", "details": None},
    )


def test_openapi_schema_lists_every_route(client: Api):
    status, _, schema = client.call("GET", "/openapi.json")
    assert status == 200
    assert set(schema["paths"]) == {
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/{job_id}/events",
        "/jobs/{job_id}/cancel",
        "/jobs/{job_id}/playlist",
        "/uploads",
        "/webhook",
        "/webhook/rotate",
    }
    assert set(schema["paths"]["/jobs"]) == {"get", "post"}
    post = schema["paths"]["/jobs"]["post"]
    assert {"202", "400", "409", "413", "429"} <= set(post["responses"])
    assert "service" not in json.dumps(post.get("parameters", []))  # injected dependencies stay private


def test_a_big_job_is_sent_whole_and_read_back_whole(client: Api):
    outputs = [
        {
            "type": "VIDEO",
            "bucket": "site-media",
            "file": f"/output/{'x' * 200}/{n}.mp4",
            "preset": "720p-generic",
        }
        for n in range(20)
    ]
    body = {"input_asset": VIDEO_JOB["input_asset"], "output_assets": outputs, "jobId": "big"}
    status, _, submitted = client.submit(body)
    assert status == 202
    assert client.store.jobs["big"].job.payload is not None
    assert client.store.jobs["big"].job.payload.held is not None  # over 4 KB: kept beside the item
    assert sent(client)[0]["data"]["output_assets"] == outputs
    assert submitted["payload"]["output_assets"] == outputs
    assert client.call("GET", "/jobs/big")[2]["payload"]["output_assets"] == outputs
    assert client.call("POST", "/jobs/big/cancel")[0] == 202
    assert sent(client)[-1]["data"]["workflow"] == CONFIG.workflow


class FailingAfter(MemoryQueue):
    """A queue whose send, while it is slow, lets another request run, then fails."""

    def __init__(self, meanwhile: Any) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    def send(self, body: str) -> str:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
            raise QueueUnavailable("SQS InternalError")
        return super().send(body)


def test_a_replay_while_the_first_send_is_failing_is_never_told_the_job_was_accepted():
    """Request A writes the job; its START_JOB send is slow, then fails, and A removes the job.
    Request B, the same key and body, arrives during A's send: it must not get a 202 for a job that
    is then gone. B is told to retry; its retry submits the job and sends START_JOB once."""
    store, clock, outcomes = MemoryJobStore(), Clock(), {}
    request = SubmitJobRequest.model_validate(VIDEO_JOB)

    def replay() -> None:
        try:
            outcomes["B"] = service.submit(CALLER, request, "key-1", VIDEO_JOB)
        except InProgress as exc:
            outcomes["B"] = exc

    queue = FailingAfter(replay)
    service = JobService(store, queue, CONFIG, CompletionRule(), clock=clock, resolve=_dns)
    with pytest.raises(QueueUnavailable):
        service.submit(CALLER, request, "key-1", VIDEO_JOB)  # request A
    assert isinstance(outcomes["B"], InProgress)
    assert store.jobs == {} and queue.sent == []
    retried = service.submit(CALLER, request, "key-1", VIDEO_JOB)  # B again, as told
    assert not retried.replayed and retried.view.job.dispatchedAt is not None
    assert len(queue.sent) == 1 and list(store.jobs) == [retried.view.job.jobId]


# ------------------------------------------------------------------ owners (design section 8)

PEER = "arn:aws:sts::123456789012:assumed-role/PeerApp/session-9"  # another client app's role session
PEER_ROLE = "arn:aws:iam::123456789012:role/PeerApp"  # its owner: the role
OPERATOR = "arn:aws:iam::123456789012:role/Ops"


@pytest.fixture
def owned() -> Iterator[Api]:
    owners = OwnerPolicy(
        "iam",
        API_CONFIG.client_name,
        client_names={PEER_ROLE: "PeerSite"},
        operators=frozenset({OPERATOR}),
    )
    yield from _client(dataclasses.replace(CONFIG, owners=owners))


def test_another_owners_job_does_not_exist_for_you(owned: Api):
    job_id = owned.submit()[2]["jobId"]
    for method, path in (
        ("GET", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}/events"),
        ("POST", f"/jobs/{job_id}/cancel"),
    ):
        status, _, body = owned.call(method, path, principal=PEER)
        assert (status, error(body)[0]) == (404, "JOB_NOT_FOUND"), path
        assert job_id in body["message"] and LOCAL_CALLER not in json.dumps(body)
    assert owned.call("GET", "/jobs", principal=PEER)[2]["items"] == []
    assert len(sent(owned)) == 1  # the peer's cancel sent nothing
    assert owned.call("GET", f"/jobs/{job_id}")[2]["cancelRequested"] is False


def test_each_owner_lists_its_own_jobs_and_start_job_carries_its_client_name(owned: Api):
    mine = owned.submit()[2]["jobId"]
    theirs = owned.submit(principal=PEER)[2]["jobId"]
    listed = {
        p: [j["jobId"] for j in owned.call("GET", "/jobs", principal=p)[2]["items"]]
        for p in (LOCAL_CALLER, PEER)
    }
    assert listed == {LOCAL_CALLER: [mine], PEER: [theirs]}
    peer_job = owned.call("GET", f"/jobs/{theirs}", principal=PEER)[2]
    # A role's sessions are the role: the owner, whichever session called.
    assert (peer_job["owner"], peer_job["clientName"]) == (
        "arn:aws:iam::123456789012:role/PeerApp",
        "PeerSite",
    )
    other_session = PEER.replace("session-9", "session-10")
    assert owned.call("GET", f"/jobs/{theirs}", principal=other_session)[0] == 200
    assert [m["data"]["client"]["name"] for m in sent(owned)] == [API_CONFIG.client_name, "PeerSite"]


def test_idempotency_keys_are_per_owner(owned: Api):
    first = owned.submit(**{"Idempotency-Key": "upload-7"})
    again = owned.submit(**{"Idempotency-Key": "upload-7"})
    peers = owned.submit(principal=PEER, **{"Idempotency-Key": "upload-7"})
    assert again[2]["jobId"] == first[2]["jobId"] and again[1]["Idempotent-Replayed"] == "true"
    assert peers[0] == 202 and peers[2]["jobId"] != first[2]["jobId"]  # its own job, not a replay of mine
    assert peers[1]["Idempotent-Replayed"] == "false" and len(sent(owned)) == 2


def test_a_job_id_taken_by_another_owner_is_refused_without_a_replay(owned: Api):
    body = {**VIDEO_JOB, "jobId": "site:42"}
    assert owned.submit(body)[0] == 202
    status, _, answer = owned.submit(body, principal=PEER)  # the same body: would be a replay if it were mine
    assert (status, error(answer)[0]) == (409, "JOB_ID_TAKEN")
    assert "owner" not in json.dumps(answer) and LOCAL_CALLER not in json.dumps(answer)


def test_an_operator_sees_and_cancels_every_owners_jobs_and_lists_one_owners(owned: Api):
    mine = owned.submit()[2]["jobId"]
    theirs = owned.submit(principal=PEER)[2]["jobId"]
    everyone = owned.call("GET", "/jobs", principal=OPERATOR)[2]["items"]
    assert {j["jobId"] for j in everyone} == {mine, theirs}
    for named in (PEER_ROLE, PEER):  # the role, or one of its sessions: the same owner
        peer_only = owned.call("GET", "/jobs", query={"owner": named}, principal=OPERATOR)
        assert [j["jobId"] for j in peer_only[2]["items"]] == [theirs]
    status, _, cancelled = owned.call("POST", f"/jobs/{theirs}/cancel", principal=OPERATOR)
    assert (status, cancelled["cancelRequested"]) == (202, True)
    assert sent(owned)[-1]["data"]["client"]["name"] == "PeerSite"  # the job's client, not the operator's


def test_only_an_operator_lists_another_owners_jobs(owned: Api):
    owned.submit(principal=PEER)
    status, _, body = owned.call("GET", "/jobs", query={"owner": PEER_ROLE})
    assert (status, error(body)[0]) == (403, "FORBIDDEN")
    mine = owned.call("GET", "/jobs", query={"owner": LOCAL_CALLER})  # one's own: allowed, same as without
    assert mine[0] == 200 and mine[2]["items"] == []


def test_a_request_without_an_identity_is_refused_not_given_an_owner(owned: Api):
    for method, path in (("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/j1")):
        status, _, body = owned.call(method, path, VIDEO_JOB if method == "POST" else None, principal=None)
        assert (status, error(body)[0]) == (403, "NO_IDENTITY"), path
    assert sent(owned) == []


# ------------------------------------------------------------------ CORS

APP = "https://app.example"


@pytest.fixture
def cors_for_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CORS_ORIGINS", json.dumps([APP, "http://localhost:5173"]))
    api._cors_origins.cache_clear()
    yield
    api._cors_origins.cache_clear()


@pytest.mark.usefixtures("cors_for_app")
def test_every_answer_to_an_allowed_origin_grants_it_errors_and_refusals_too(client: Api):
    granted = {
        "success": client.submit(Origin=APP),
        "not found": client.call("GET", "/jobs/nothere", headers={"Origin": APP}),
        "invalid": client.call("POST", "/jobs", {"input_asset": 1}, headers={"Origin": APP}),
        "refused before routing": client.call(
            "POST", "/jobs", "y" * (MAX_BODY_BYTES + 1), headers={"Origin": APP}
        ),
    }
    assert [status for status, _, _ in granted.values()] == [202, 404, 400, 413]
    for status, headers, _ in granted.values():
        assert headers["Access-Control-Allow-Origin"] == APP, status
        assert headers["Vary"] == "Origin"
        assert "Location" in headers["Access-Control-Expose-Headers"].split(",")


@pytest.mark.usefixtures("cors_for_app")
def test_another_origin_or_none_gets_no_grant(client: Api):
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {}):
        _, answered, _ = client.submit(**headers)
        assert "Access-Control-Allow-Origin" not in answered
        assert answered["Vary"] == "Origin"


def test_a_stack_that_allows_no_origin_says_nothing_of_cors(client: Api):
    _, headers, _ = client.submit(Origin=APP)
    assert not [name for name in headers if name.startswith("Access-Control") or name == "Vary"]


# ------------------------------------------------------------------ uploads and output links


@pytest.fixture
def media_client() -> Iterator[Api]:
    client = Api(CONFIG, media=MEDIA)
    api.app.dependency_overrides[api.get_service] = lambda: client.service
    yield client
    api.app.dependency_overrides.clear()


def test_an_upload_is_a_form_for_one_key_under_the_callers_prefix_capped_and_typed(media_client: Api):
    status, _, body = media_client.call(
        "POST", "/uploads", {"contentType": "video/mp4", "filename": "cat.mp4"}
    )
    assert status == 201
    key = f"uploads/{owner_key(LOCAL_CALLER)}/up0000/cat.mp4"
    assert body["input_asset"] == {"type": "VIDEO", "bucket": "stack-media", "file": f"/{key}"}
    assert (body["uploadId"], body["maxBytes"], body["fields"]["key"]) == ("up0000", 1000, key)
    (form,) = media_client.presigner.forms
    assert form["conditions"] == [{"Content-Type": "video/mp4"}, ["content-length-range", 1, 1000]]
    assert form["expires_in"] == 600
    audio = media_client.call("POST", "/uploads", {"contentType": "audio/mpeg"})[2]
    assert audio["input_asset"]["type"] == "AUDIO"
    assert audio["input_asset"]["file"].endswith("/up0001/source")


@pytest.mark.parametrize(
    "request_body",
    [
        {"contentType": "text/html"},
        {"contentType": "video/mp4; charset=x"},
        {"contentType": "video/mp4", "filename": "../../outputs/x"},
        {"contentType": "video/mp4", "filename": ".hidden"},
        {"contentType": "video/mp4", "bucket": "elsewhere"},
        {},
    ],
)
def test_an_upload_of_another_kind_or_name_is_refused(media_client: Api, request_body: dict[str, Any]):
    status, _, body = media_client.call("POST", "/uploads", request_body)
    assert (status, error(body)[0]) == (400, "INVALID_REQUEST")
    assert media_client.presigner.forms == []


def test_a_stack_without_a_media_bucket_says_so(client: Api):
    status, _, body = client.call("POST", "/uploads", {"contentType": "video/mp4"})
    assert (status, error(body)[0]) == (404, "UPLOADS_DISABLED")


def test_a_job_may_name_its_owners_upload_but_not_another_owners(media_client: Api):
    grant = media_client.call("POST", "/uploads", {"contentType": "video/mp4"})[2]
    assert grant["output_prefix"] == f"/outputs/{owner_key(LOCAL_CALLER)}/"
    job = {**VIDEO_JOB, "input_asset": grant["input_asset"]}
    assert media_client.submit(job)[0] == 202
    status, _, body = media_client.submit(job, principal=PEER)
    assert (status, error(body)[0]) == (400, "INVALID_REQUEST")
    assert body["details"][0]["loc"] == ["body", "input_asset", "file"]
    assert len(media_client.queue.sent) == 1


def test_a_jobs_outputs_in_the_media_bucket_come_with_links_that_expire(media_client: Api):
    media_client.submit({**VIDEO_JOB, "jobId": "j1"})
    mine = f"outputs/{owner_key(LOCAL_CALLER)}/v/index.m3u8"
    written = [
        {"bucket": "stack-media", "key": mine, "size": 10},
        {"bucket": "stack-media", "key": f"uploads/{owner_key(LOCAL_CALLER)}/y/source", "size": 10},
        {"bucket": "stack-media", "key": "outputs/someone-else/v.mp4", "size": 10},  # never linked
        {"bucket": "site-media", "key": "output/video1.mp4", "size": 10},  # a bucket the API may not read
    ]
    _track(
        media_client,
        scheduled(1, job_id="j1", run_id="r1"),
        act(M.ACTIVITY_COMPLETED, "TranscodeAssetStep", 3, run_id="r1", result={"outputs": written}),
    )
    before = media_client.clock.now
    body = media_client.call("GET", "/jobs/j1")[2]
    linked, *others = body["outputs"]
    assert linked["url"] == f"https://stack-media.s3.amazonaws.com/{mine}?X-Amz-Expires=120"
    assert before + 119 <= datetime.fromisoformat(linked["urlExpiresAt"]).timestamp() <= before + 121
    assert not [o for o in others if "url" in o]


def _completed_writing(client: Api, key: str) -> None:
    """Job j1 submitted, then completed by the tracker having written ``key`` in the media bucket."""
    client.submit({**VIDEO_JOB, "jobId": "j1"})
    _track(
        client,
        scheduled(1, job_id="j1", run_id="r1"),
        act(
            M.ACTIVITY_COMPLETED,
            "TranscodeAssetStep",
            3,
            run_id="r1",
            result={"outputs": [{"bucket": "stack-media", "key": key, "size": 10}]},
        ),
    )


def test_a_jobs_hls_playlist_is_served_with_every_object_it_names_presigned(media_client: Api):
    """However many segments: the job lists few objects (its 50 shown), the playlist names all."""
    folder = f"outputs/{owner_key(LOCAL_CALLER)}/abr/"
    master = f"{folder}master.m3u8"
    _completed_writing(media_client, master)
    media_client.objects.objects[("stack-media", master)] = (
        b'#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="audio",URI="master_audio.m3u8"\n'
        b'#EXT-X-STREAM-INF:BANDWIDTH=900000,AUDIO="a"\nmaster_360p.m3u8\n'
    )
    segments = "".join(f"#EXTINF:2.0,\nmaster_360p_{n:05d}.m4s\n" for n in range(300))
    media_client.objects.objects[("stack-media", f"{folder}master_360p.m3u8")] = (
        f'#EXTM3U\n#EXT-X-MAP:URI="master_360p_init.mp4"\n{segments}#EXT-X-ENDLIST\n'.encode()
    )
    status, headers, body = media_client.call("GET", "/jobs/j1/playlist", query={"key": master})
    assert (status, headers["Content-Type"]) == (200, "application/vnd.apple.mpegurl")
    assert f'URI="playlist?key={folder}master_audio.m3u8"' in body
    assert f"\nplaylist?key={folder}master_360p.m3u8\n" in body
    variant = media_client.call("GET", "/jobs/j1/playlist", query={"key": f"{folder}master_360p.m3u8"})[2]
    signed = f"https://stack-media.s3.amazonaws.com/{folder}master_360p"
    assert f'URI="{signed}_init.mp4?X-Amz-Expires=120"' in variant
    assert variant.count(f"{signed}_") == 301 and f"{signed}_00299.m4s?X-Amz-Expires=120" in variant


def test_only_a_playlist_of_the_jobs_own_outputs_is_served(media_client: Api):
    mine = f"outputs/{owner_key(LOCAL_CALLER)}/v/index.m3u8"
    _completed_writing(media_client, mine)
    for key in (
        f"outputs/{owner_key(PEER_ROLE)}/v/index.m3u8",  # another owner's
        f"outputs/{owner_key(LOCAL_CALLER)}/other/index.m3u8",  # another folder of the owner's
        f"outputs/{owner_key(LOCAL_CALLER)}/v/../other/index.m3u8",  # climbing out
        f"outputs/{owner_key(LOCAL_CALLER)}/v/secret.txt",  # not a playlist
        f"outputs/{owner_key(LOCAL_CALLER)}/v/missing.m3u8",  # not written
    ):
        status, _, body = media_client.call("GET", "/jobs/j1/playlist", query={"key": key})
        assert (status, body["code"]) == (404, "PLAYLIST_NOT_FOUND"), key
    media_client.objects.objects[("stack-media", mine)] = b"#EXTM3U\n" + b"#" * 1_000_001
    status, _, body = media_client.call("GET", "/jobs/j1/playlist", query={"key": mine})
    assert (status, body["code"]) == (422, "PLAYLIST_TOO_LARGE")
    # Another owner asking for this job's playlist: no such job.
    status, _, body = media_client.call("GET", "/jobs/j1/playlist", query={"key": mine}, principal=PEER_ROLE)
    assert (status, body["code"]) == (404, "JOB_NOT_FOUND")


def test_a_job_reads_and_writes_the_media_bucket_only_under_its_owners_prefixes(media_client: Api):
    mine, theirs = owner_key(LOCAL_CALLER), owner_key(PEER_ROLE)
    output = {"type": "VIDEO", "bucket": "stack-media", "preset": "720p-generic"}
    allowed = [
        {
            "input_asset": {"type": "VIDEO", "bucket": "stack-media", "file": f"/uploads/{mine}/u/a.mp4"},
            "output_asset": {**output, "file": f"/outputs/{mine}/a/720.mp4"},
        },
        {
            "input_asset": {"type": "VIDEO", "bucket": "stack-media", "file": f"/outputs/{mine}/a/720.mp4"},
            "output_asset": {**output, "file": f"/outputs/{mine}/b/720.mp4"},
        },
    ]
    for job in allowed:
        assert media_client.submit(job)[0] == 202
    refused = {
        "another's output as input": (
            {"file": f"/outputs/{theirs}/a/720.mp4"},
            {"file": f"/outputs/{mine}/c.mp4"},
            ["body", "input_asset", "file"],
        ),
        "writing over another's output": (
            {"file": f"/uploads/{mine}/u/a.mp4"},
            {"file": f"/outputs/{theirs}/a/720.mp4"},
            ["body", "output_asset", "file"],
        ),
        "writing into uploads": (
            {"file": f"/uploads/{mine}/u/a.mp4"},
            {"file": f"/uploads/{mine}/u/b.mp4"},
            ["body", "output_asset", "file"],
        ),
        "outside both prefixes": (
            {"file": "/sample.mp4"},
            {"file": f"/outputs/{mine}/c.mp4"},
            ["body", "input_asset", "file"],
        ),
        "another's upload as watermark": (
            {"file": f"/uploads/{mine}/u/a.mp4"},
            {
                "file": f"/outputs/{mine}/w.mp4",
                "watermark": {"bucket": "stack-media", "file": f"/uploads/{theirs}/u/logo.png"},
            },
            ["body", "output_asset", "watermark", "file"],
        ),
    }
    for name, (source, destination, loc) in refused.items():
        job = {
            "input_asset": {"type": "VIDEO", "bucket": "stack-media", **source},
            "output_asset": {**output, **destination},
        }
        status, _, body = media_client.submit(job)
        assert (status, error(body)[0]) == (400, "INVALID_REQUEST"), name
        assert [problem["loc"] for problem in body["details"]] == [loc], name
    operator = Api(
        dataclasses.replace(
            CONFIG, owners=OwnerPolicy("iam", CONFIG.client_name, operators=frozenset({PEER_ROLE}))
        ),
        media=MEDIA,
    )
    api.app.dependency_overrides[api.get_service] = lambda: operator.service
    assert (
        operator.submit(
            {
                "input_asset": {"type": "VIDEO", "bucket": "stack-media", "file": "/sample.mp4"},
                "output_asset": {**output, "file": "/outputs/anywhere/x.mp4"},
            },
            principal=PEER,
        )[0]
        == 202
    )


def test_a_query_parameter_the_route_does_not_take_is_refused_not_ignored(client: Api):
    client.submit()
    status, _, body = client.call("GET", "/jobs", query={"createdafter": "2026-01-01T00:00:00Z"})
    assert status == 400
    code, message = error(body)
    assert code == "INVALID_REQUEST" and "createdafter" in message and "createdAfter" in message
    assert body["details"] == [
        {
            "loc": ["query", "createdafter"],
            "msg": "unknown: this route takes status, owner, createdAfter, createdBefore, limit, nextToken",
            "type": "unknown_parameter",
        }
    ]
    status, _, body = client.call("GET", "/jobs/job0000", query={"verbose": "1"})
    assert (status, body["details"][0]["loc"]) == (400, ["query", "verbose"])
    assert client.call("GET", "/jobs", query={"createdAfter": "2026-01-01T00:00:00Z"})[0] == 200


def test_unknown_query_parameters_are_refused_with_a_trailing_slash_too(client: Api):
    client.submit()
    for path in ("/jobs/", "/jobs/job0000/"):
        status, _, body = client.call("GET", path, query={"verbose": "1"})
        assert (status, body["code"], body["details"][0]["loc"]) == (
            400,
            "INVALID_REQUEST",
            ["query", "verbose"],
        )


def test_an_output_straight_under_the_owners_prefix_opens_no_folder_of_other_jobs(media_client: Api):
    prefix = f"outputs/{owner_key(LOCAL_CALLER)}/"
    _completed_writing(media_client, f"{prefix}index.m3u8")
    media_client.objects.objects[("stack-media", f"{prefix}other-job/index.m3u8")] = b"#EXTM3U\n"
    for key in (f"{prefix}index.m3u8", f"{prefix}other-job/index.m3u8"):
        status, _, body = media_client.call("GET", "/jobs/j1/playlist", query={"key": key})
        assert (status, body["code"]) == (404, "PLAYLIST_NOT_FOUND"), key
