"""The API as a browser app uses it, on a local stack that allows two apps' origins: the preflight
answered by the gateway without auth, and the grant on every answer, errors included; a file
uploaded through the presigned form (S3's policy checked by the local S3), a job on it, and its
outputs fetched through their links, which expire."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from cpe_client.client import ApiError, JobsClient, UploadRefused
from local import sample_media
from local.stack import LOCAL_PRINCIPAL, PEER_PRINCIPAL, LocalStack, local_stack
from tests.e2e.conftest import REQUEST_TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
APP = "http://localhost:5173"
OTHER_APP = "https://app.example"
MAX_UPLOAD_BYTES = 1_000_000
LINK_SECONDS = 600
CONFIG = {
    "cors": {"allowedOrigins": [OTHER_APP, APP], "maxAgeSeconds": 120},
    "media": {"uploadMaxBytes": MAX_UPLOAD_BYTES, "downloadLinkSeconds": LINK_SECONDS},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with local_stack(engine_jobs=1, config=CONFIG, principals=(LOCAL_PRINCIPAL, PEER_PRINCIPAL)) as running:
        yield running


# api and peer: tests/e2e/conftest.py's clients, on this module's stack.


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = sample_media.video(tmp_path_factory.mktemp("upload") / "my clip.mp4", seconds=2, size=(320, 180))
    assert path.stat().st_size < MAX_UPLOAD_BYTES
    return path


def preflight(stack: LocalStack, path: str, origin: str) -> requests.Response:
    return requests.options(
        stack.api_url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
        timeout=REQUEST_TIMEOUT,
    )


@pytest.mark.parametrize("origin", [APP, OTHER_APP])
def test_a_preflight_from_an_allowed_origin_is_granted_without_credentials(stack: LocalStack, origin: str):
    for path in ("jobs", "jobs/j1/cancel"):
        answer = preflight(stack, path, origin)
        assert answer.status_code == 204
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert set(answer.headers["Access-Control-Allow-Methods"].split(",")) == {
            "DELETE",
            "GET",
            "OPTIONS",
            "POST",
            "PUT",
        }
        allowed = {h.lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key"} <= allowed
        assert answer.headers["Access-Control-Max-Age"] == "120"


def test_a_preflight_from_another_origin_grants_it_nothing(stack: LocalStack):
    answer = preflight(stack, "jobs", "https://evil.example")
    assert answer.headers.get("Access-Control-Allow-Origin") != "https://evil.example"


def signed(stack: LocalStack, method: str, path: str, headers: dict[str, str]) -> requests.Response:
    """A request signed as the local stack's IAM user, as a browser app with SigV4 would send it."""
    request = AWSRequest(method=method, url=stack.api_url + path, headers=headers)
    credentials = botocore.session.get_session().get_credentials()
    SigV4Auth(credentials, "execute-api", stack.aws.region).add_auth(request)
    return requests.request(method, request.url, headers=dict(request.headers), timeout=REQUEST_TIMEOUT)


def test_answers_and_the_gateways_own_refusals_grant_the_app(stack: LocalStack):
    listed = signed(stack, "GET", "jobs", {"Origin": APP})
    assert (listed.status_code, listed.headers["Access-Control-Allow-Origin"]) == (200, APP)
    assert "Location" in listed.headers["Access-Control-Expose-Headers"].split(",")
    missing = signed(stack, "GET", "jobs/nothere", {"Origin": APP})
    assert (missing.status_code, missing.headers["Access-Control-Allow-Origin"]) == (404, APP)
    assert (
        signed(stack, "GET", "jobs", {"Origin": "https://evil.example"}).headers.get(
            "Access-Control-Allow-Origin"
        )
        is None
    )
    unsigned = requests.get(stack.api_url + "jobs", headers={"Origin": APP}, timeout=REQUEST_TIMEOUT)
    assert unsigned.status_code == 403  # refused by the gateway itself: no signature
    assert unsigned.json()["code"] == "NOT_FOUND_OR_UNAUTHENTICATED"
    assert unsigned.headers["Access-Control-Allow-Origin"] == APP


# ------------------------------------------------------------------ uploads and output links


def test_an_uploaded_file_becomes_a_job_whose_outputs_are_fetched_through_links_that_expire(
    stack: LocalStack, api: JobsClient, peer: JobsClient, clip: Path
):
    grant = api.upload(clip)
    source = grant["input_asset"]
    assert source["type"] == "VIDEO" and source["file"].endswith("/my_clip.mp4")
    with pytest.raises(ApiError) as refused:  # another app cannot take this upload for its job
        peer.submit(
            {"input_asset": source, "output_asset": {**source, "type": "THUMB", "file": "/elsewhere/x.jpg"}}
        )
    assert (refused.value.status, refused.value.details[0]["loc"]) == (400, ["body", "input_asset", "file"])

    bucket, at = source["bucket"], grant["output_prefix"]
    job = api.submit(
        {
            "input_asset": source,
            "output_assets": [
                {
                    "type": "VIDEO",
                    "bucket": bucket,
                    "file": f"{at}b/360p.mp4",
                    "preset": "360p-16.9-generic",
                },
                {"type": "THUMB", "bucket": bucket, "file": f"{at}b/thumb.jpg"},
            ],
        }
    )
    done = api.watch(job["jobId"], interval=0.2, timeout=300)
    assert done["status"] == "COMPLETED", done.get("error")
    links = {o["key"]: o["url"] for o in done["outputs"]}
    video_key, thumb_key = f"{at.lstrip('/')}b/360p.mp4", f"{at.lstrip('/')}b/thumb.jpg"
    assert set(links) == {video_key, thumb_key}
    video = requests.get(links[video_key], timeout=REQUEST_TIMEOUT)
    assert video.status_code == 200
    with av.open(io.BytesIO(video.content)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (320, 180)  # a 360p preset never upscales
    assert frames >= 48  # 2 s at 24+ fps
    assert requests.get(links[thumb_key], timeout=REQUEST_TIMEOUT).content[:2] == b"\xff\xd8"

    stack.aws.s3_checks.advance(LINK_SECONDS + 1)
    expired = requests.get(links[video_key], timeout=REQUEST_TIMEOUT)
    assert (expired.status_code, "<Code>AccessDenied</Code>" in expired.text) == (403, True)
    assert "Request has expired" in expired.text


def test_s3_refuses_an_upload_over_the_cap_or_of_another_type_than_the_form_says(
    api: JobsClient, tmp_path: Path
):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(UploadRefused) as too_big:
        api.upload(big)
    assert (too_big.value.status, too_big.value.code) == (400, "EntityTooLarge")

    small = tmp_path / "page.mp4"
    small.write_bytes(b"<html></html>")
    grant = api._json("POST", "/uploads", body={"contentType": "video/mp4"})
    sent = requests.post(
        grant["url"],
        data={**grant["fields"], "Content-Type": "text/html"},
        files={"file": ("page.html", small.read_bytes(), "text/html")},
        timeout=REQUEST_TIMEOUT,
    )
    assert sent.status_code == 403 and "Policy Condition failed" in sent.text
    with pytest.raises(ApiError) as not_media:
        api.upload(small, content_type="text/html")
    assert (not_media.value.status, not_media.value.code) == (400, "INVALID_REQUEST")
