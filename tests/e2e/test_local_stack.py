"""A user's view of the pipeline, on the local stack: submit, watch, download, decode."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import av
import pytest
from jsonschema import Draft202012Validator

from cpe_client.client import ApiError, JobsClient
from cpe_client.stream import deserialize, parse_records
from infra.stream import job_item_filter
from local import sample_media
from local.event_source import matches
from local.faults import FaultPlan
from local.stack import LocalStack
from tests.e2e.conftest import BUCKET, download
from tests.e2e.owners import assert_owners_kept_apart

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
TIMEOUT = 180
ROOT = Path(__file__).resolve().parents[2]


def job(*outputs: dict[str, Any], source: str = "/in/clip.mp4") -> dict[str, Any]:
    return {
        "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": source},
        "output_assets": [{"bucket": BUCKET, **output} for output in outputs],
    }


def test_a_job_with_a_rendition_hls_and_thumbnails_completes_and_its_outputs_play(
    api: JobsClient, s3, tmp_path: Path
):
    submitted = api.submit(
        job(
            {"type": "VIDEO", "file": "/out/a/360p.mp4", "preset": "360p-16.9-generic"},
            {"type": "VIDEO", "file": "/out/a/hls/index.m3u8", "preset": "hls600k-generic"},
            {
                "type": "THUMB",
                "file": "/out/a/thumbs/t.jpg",
                "mode": "intervals",
                "intervals": 2,
                "size": "-1:90",
            },
        )
    )
    seen: list[int] = []
    done = api.watch(
        submitted["jobId"], interval=0.3, timeout=TIMEOUT, on_update=lambda j: seen.append(j["progress"])
    )
    assert done["status"] == "COMPLETED", done.get("error")
    assert seen == sorted(seen) and done["progress"] == 100  # progress only moves forward
    assert done["probe"]["streams"][0]["width"] == 640
    assert [a["status"] for a in done["activities"]] == ["COMPLETED"] * 4

    keys = {o["key"] for o in done["outputs"]}
    with av.open(str(download(s3, "out/a/360p.mp4", tmp_path))) as rendition:
        video = rendition.streams.video[0]
        frames = sum(1 for _ in rendition.decode(video))
        assert (video.codec_context.name, video.width, video.height) == ("h264", 640, 360)
        assert frames == 8 * 25 and rendition.streams.audio[0].codec_context.name == "aac"
    playlist = download(s3, "out/a/hls/index.m3u8", tmp_path).read_text()
    segments = re.findall(r"^(index_\d{5}\.ts)$", playlist, re.MULTILINE)
    assert segments and all(f"out/a/hls/{name}" in keys for name in segments)
    assert {k for k in keys if k.startswith("out/a/thumbs/")} == {
        f"out/a/thumbs/t{n:06d}.jpg" for n in (1, 2, 3, 4)
    }
    with av.open(str(download(s3, "out/a/thumbs/t000001.jpg", tmp_path))) as thumb:
        assert thumb.streams.video[0].height == 90

    # The job is COMPLETED once its last activity reports; the workflow's own message may follow.
    deadline = time.monotonic() + 30
    while True:
        events = [e["event"] for e in api.events(submitted["jobId"], limit=100)["items"]]
        if "WORKFLOW_COMPLETED" in events or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert events[0] in ("SUBMITTED", "DISPATCHED") and "WORKFLOW_COMPLETED" in events


def test_a_corrupt_input_ends_failed_with_its_reason(api: JobsClient, s3):
    submitted = api.submit(job({"type": "THUMB", "file": "/out/bad/t.jpg"}, source="/in/bad.mp4"))
    done = api.watch(submitted["jobId"], interval=0.3, timeout=TIMEOUT)
    assert done["status"] == "FAILED"
    assert done["error"]["reason"] == "INPUT_NOT_MEDIA" and done["error"]["activityId"] == "ValidateAssetStep"


def test_twenty_jobs_submitted_at_once_all_complete(api: JobsClient, s3):
    def submit(n: int) -> str:
        return str(
            api.submit(job({"type": "THUMB", "file": f"/out/many/{n}/t.jpg", "snapshot_sec": 1}))["jobId"]
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        job_ids = list(pool.map(submit, range(20)))
    assert len(set(job_ids)) == 20
    finals = [api.watch(job_id, interval=0.5, timeout=TIMEOUT) for job_id in job_ids]
    assert [j["status"] for j in finals] == ["COMPLETED"] * 20
    for final in finals:
        (output,) = final["outputs"]
        assert output["key"].startswith("out/many/")
        assert s3.head_object(Bucket=BUCKET, Key=output["key"])["ContentLength"] == output["size"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="out/many/")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(f["outputs"][0]["key"] for f in finals)


def test_an_idempotent_resubmit_creates_nothing_new(api: JobsClient, s3):
    body = job({"type": "THUMB", "file": "/out/idem/t.jpg"})
    first = api.submit(body, idempotency_key="e2e-idem-1")
    before = len(api.list(limit=100)["items"])
    again = api.submit(body, idempotency_key="e2e-idem-1")
    assert again["jobId"] == first["jobId"]
    assert len(api.list(limit=100)["items"]) == before
    with pytest.raises(ApiError) as conflict:
        api.submit(job({"type": "THUMB", "file": "/out/idem/other.jpg"}), idempotency_key="e2e-idem-1")
    assert conflict.value.status == 409
    assert api.watch(first["jobId"], interval=0.3, timeout=TIMEOUT)["status"] == "COMPLETED"


def test_a_poison_message_ends_in_the_dlq_while_the_jobs_around_it_complete(
    stack: LocalStack, api: JobsClient, s3
):
    sqs = stack.aws.client("sqs")
    around = [api.submit(job({"type": "THUMB", "file": f"/out/poison/{n}.jpg"}))["jobId"] for n in range(2)]
    sqs.send_message(
        QueueUrl=stack.outputs["OutputQueueUrl"], MessageBody='{"type": "ACTIVITY_STARTED", "data": 42}'
    )
    assert [api.watch(j, interval=0.3, timeout=TIMEOUT)["status"] for j in around] == [
        "COMPLETED",
        "COMPLETED",
    ]
    dead: list[dict[str, Any]] = []
    for _ in range(60):
        dead += sqs.receive_message(
            QueueUrl=stack.outputs["OutputDeadLetterQueueUrl"], WaitTimeSeconds=1
        ).get("Messages", [])
        if dead:
            break
    assert [json.loads(m["Body"])["data"] for m in dead] == [42]


def test_requests_without_a_valid_signature_are_refused(stack: LocalStack, api: JobsClient):
    def status(request: Request) -> int:
        try:
            with urlopen(request, timeout=10) as response:
                return int(response.status)
        except HTTPError as error:
            return error.code

    assert status(Request(f"{stack.api_url}jobs")) == 403
    forged = Request(f"{stack.api_url}jobs", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/execute-api/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}",
        "X-Amz-Date": "20261128T000000Z",
    })  # fmt: skip
    assert status(forged) == 403
    assert status(Request(f"{stack.api_url}nowhere")) == 403
    assert api.list(limit=1)["items"] is not None  # a signed request goes through


def test_a_signed_request_with_a_method_a_route_does_not_declare_gets_405_naming_the_allowed(api: JobsClient):
    with pytest.raises(ApiError) as refused:
        api._call("DELETE", "/jobs/any-job")  # the client has no such call: its signed transport
    assert (refused.value.status, refused.value.code) == (405, "METHOD_NOT_ALLOWED")
    assert refused.value.message == "use GET"


def test_the_cli_submits_watches_and_lists_like_the_client(stack: LocalStack, s3, tmp_path: Path):
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job({"type": "THUMB", "file": "/out/cli/t.jpg"})))
    environment = {**os.environ, "CPE_API_URL": stack.api_url}

    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "cpe_client", *arguments],
            check=False,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    submitted = cli("submit", str(job_file))
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["jobId"]
    watched = cli("watch", job_id, "--interval", "0.3")
    assert watched.returncode == 0 and "COMPLETED" in watched.stdout.splitlines()[-2]
    listed = json.loads(cli("list", "--limit", "100").stdout)
    assert job_id in {item["jobId"] for item in listed["items"]}
    missing = cli("get", "no-such-job")
    assert missing.returncode == 1 and json.loads(missing.stderr)["status"] == 404


def test_a_webhook_receiver_gets_the_jobs_state_changes_signed_and_in_order(
    stack: LocalStack, api: JobsClient, s3, receiver
):
    submitted = api.submit(job({"type": "THUMB", "file": "/out/hook/t.jpg"}))
    done = api.watch(submitted["jobId"], interval=0.3, timeout=TIMEOUT)
    assert done["status"] == "COMPLETED"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        e["jobId"] == done["jobId"] and e["status"] == "COMPLETED" for e in receiver.deliveries
    ):
        time.sleep(0.2)
    events = sorted(
        (e for e in receiver.deliveries if e["jobId"] == done["jobId"]), key=lambda e: e["sequence"]
    )
    assert receiver.rejected == 0  # every delivery verified against the stack's secret
    assert events[0]["changes"] == ["created"] and events[-1]["status"] == "COMPLETED"
    assert len({e["id"] for e in events}) == len(events)
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)


def once(api: JobsClient) -> JobsClient:
    """The same API without the client's retries: what one request is answered."""
    return JobsClient(api.endpoint, region=api.region, max_attempts=1, timeout=api.timeout)


def test_a_submit_whose_start_job_cannot_be_sent_leaves_nothing_and_its_retry_runs_once(
    stack: LocalStack, api: JobsClient, s3
):
    input_queue = stack.outputs["InputQueueUrl"].rsplit("/", 1)[-1]
    body = job({"type": "THUMB", "file": "/out/unsent/t.jpg"})
    before = [j["jobId"] for j in api.list(limit=100)["items"]]
    assert len(before) < 100  # one page shows them all
    stack.aws.faults.fail_sends[input_queue] = 4  # the first attempt and the SDK's three retries
    with pytest.raises(ApiError) as refused:
        once(api).submit(body, idempotency_key="e2e-unsent-1")
    assert (refused.value.status, refused.value.code) == (503, "QUEUE_UNAVAILABLE")
    assert not stack.aws.faults.fail_sends  # all four attempts were refused at SQS
    assert [j["jobId"] for j in api.list(limit=100)["items"]] == before  # no job left half-submitted

    stack.aws.faults.fail_sends[input_queue] = 4  # again: now the client's own retry gets it through
    retried = api.submit(body, idempotency_key="e2e-unsent-1")
    assert not stack.aws.faults.fail_sends
    done = api.watch(retried["jobId"], interval=0.3, timeout=TIMEOUT)
    assert done["status"] == "COMPLETED"
    timeline = api.events(retried["jobId"])["items"]
    assert [e["event"] for e in timeline].count("WORKFLOW_SCHEDULED") == 1  # one run: sent once


def test_a_throttled_table_is_a_retryable_answer_never_a_server_error(stack: LocalStack, api: JobsClient, s3):
    created = api.submit(job({"type": "THUMB", "file": "/out/throttled/t.jpg"}))
    stack.aws.faults.inject(FaultPlan(throttle=1.0))
    try:
        with pytest.raises(ApiError) as throttled:
            once(api).get(created["jobId"])
    finally:
        stack.aws.faults.inject(FaultPlan())
    assert (throttled.value.status, throttled.value.code) == (429, "THROTTLED")
    assert api.watch(created["jobId"], interval=0.3, timeout=TIMEOUT)["status"] == "COMPLETED"


def test_two_client_apps_on_one_stack_see_and_change_only_their_own_jobs(
    api: JobsClient, peer: JobsClient, app_receivers, s3, tmp_path: Path
):
    clip = sample_media.video(tmp_path / "mine.mp4", seconds=1, size=(160, 90))
    assert_owners_kept_apart(
        api,
        peer,
        lambda name: job({"type": "THUMB", "file": f"/out/owners/{name}.jpg"}),
        owners=("arn:aws:iam::123456789012:user/local", "arn:aws:iam::123456789012:role/PeerApp"),
        upload=clip,
        webhook_url=app_receivers[0].url,
    )


def test_each_app_gets_its_own_jobs_events_signed_with_its_own_secret_through_a_rotation(
    api: JobsClient, peer: JobsClient, app_receivers, s3
):
    mine, theirs = app_receivers
    made = api.set_webhook(mine.url)
    mine.secret = made["secret"]
    theirs.secret = peer.set_webhook(theirs.url)["secret"]
    assert mine.secret != theirs.secret and api.get_webhook()["secret"] is None

    def delivered(receiver, job_id: str) -> list[dict]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            events = [e for e in receiver.deliveries if e["jobId"] == job_id]
            if any(e["status"] == "COMPLETED" for e in events):
                return events
            time.sleep(0.2)
        raise AssertionError(f"no COMPLETED event of {job_id} at {receiver.url}")

    my_job = api.submit(job({"type": "THUMB", "file": "/out/hooks/a.jpg"}))
    their_job = peer.submit(job({"type": "THUMB", "file": "/out/hooks/b.jpg"}))
    assert delivered(mine, my_job["jobId"]) and delivered(theirs, their_job["jobId"])
    assert {e["owner"] for e in mine.deliveries} == {my_job["owner"]}  # nothing of the other app's
    assert {e["owner"] for e in theirs.deliveries} == {their_job["owner"]}

    mine.secret = api.rotate_webhook_secret()["secret"]  # the receiver switches at once: no loss
    after = api.submit(job({"type": "THUMB", "file": "/out/hooks/c.jpg"}))
    assert delivered(mine, after["jobId"])
    assert (mine.rejected, theirs.rejected) == (0, 0)
    api.delete_webhook()
    with pytest.raises(ApiError) as gone:
        api.get_webhook()
    assert gone.value.code == "WEBHOOK_NOT_FOUND"


def _stream_records(stack: LocalStack) -> list[dict[str, Any]]:
    """Every record of the jobs table's stream so far, as DynamoDB Streams gives them."""
    streams = stack.aws.client("dynamodbstreams")
    arn = stack.outputs["JobsStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += answer["Records"]
            iterator = answer.get("NextShardIterator") if answer["Records"] else None
    return records


def _plain(value: Any) -> Any:
    """A deserialized image as JSON would hold it (DynamoDB numbers come as Decimal)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def test_the_tables_stream_carries_job_items_by_the_published_contract(
    stack: LocalStack, api: JobsClient, s3
):
    validator = Draft202012Validator(
        json.loads((ROOT / "docs" / "job-stream.schema.json").read_text()),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    made = api.submit(job({"type": "THUMB", "file": "/out/stream/t.jpg"}))
    broken = api.submit(job({"type": "THUMB", "file": "/out/stream/bad.jpg"}, source="/in/bad.mp4"))
    finals = {j["jobId"]: api.watch(j["jobId"], interval=0.3, timeout=TIMEOUT) for j in (made, broken)}
    records = _stream_records(stack)

    job_records = [r for r in records if r["dynamodb"]["Keys"]["sk"]["S"] == "JOB"]
    assert len(job_records) < len(records)  # the table's internal items are on the stream too
    images = [r["dynamodb"][i] for r in job_records for i in ("NewImage", "OldImage") if i in r["dynamodb"]]
    for image in images:
        validator.validate(_plain(deserialize(image)))

    changes = parse_records(records)
    assert len(changes) == len(job_records)  # internal items skipped, every job item parsed
    for job_id, final in finals.items():
        written = [c.job for c in changes if c.job is not None and c.job.job_id == job_id]
        versions = [w.version for w in written]
        assert versions == sorted(set(versions)) and len(versions) >= 3
        last = written[-1]
        assert (last.status, last.owner, last.run_id) == (final["status"], final["owner"], final["runId"])
        assert last.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z") == final["createdAt"]
    assert written[-1].error_reason == finals[broken["jobId"]]["error"]["reason"] == "INPUT_NOT_MEDIA"

    # The filter a subscription for ended jobs gets, on these real records: only those writes pass.
    ended = job_item_filter(["COMPLETED", "FAILED"])
    passed = parse_records(r for r in records if matches(ended, r))
    assert passed and {c.job.status for c in passed if c.job} <= {"COMPLETED", "FAILED"}
    assert {c.job_id for c in passed} >= set(finals)
