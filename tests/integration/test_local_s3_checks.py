"""The local S3 refuses what S3 refuses of forms and links (local/s3_checks.py), over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from functions.api.media_s3 import PRESIGNING
from local.embedded import EmbeddedAws, embedded_aws

BUCKET = "media-checks"
KEY = "uploads/owner/u1/source"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as running:
        running.client("s3").create_bucket(Bucket=BUCKET)
        yield running


def presigner(aws: EmbeddedAws) -> Any:
    return boto3.client("s3", endpoint_url=aws.endpoint, region_name=aws.region, config=PRESIGNING)


def form(aws: EmbeddedAws, expires_in: int = 60) -> dict[str, Any]:
    return dict(
        presigner(aws).generate_presigned_post(
            Bucket=BUCKET,
            Key=KEY,
            Fields={"Content-Type": "video/mp4"},
            Conditions=[{"Content-Type": "video/mp4"}, ["content-length-range", 1, 10]],
            ExpiresIn=expires_in,
        )
    )


def post(url: str, fields: Any, content: bytes = b"12345") -> tuple[int, str]:
    answer = requests.post(url, data=fields, files={"file": ("f", content)}, timeout=30)
    return answer.status_code, answer.text


def test_a_form_s3_would_take_is_stored_as_its_policy_says(aws: EmbeddedAws):
    granted = form(aws)
    assert post(granted["url"], granted["fields"])[0] == 204
    assert post(granted["url"], {**granted["fields"], "x-ignore-tracking": "1"})[0] == 204
    stored = aws.client("s3").get_object(Bucket=BUCKET, Key=KEY)
    assert (stored["Body"].read(), stored["ContentType"]) == (b"12345", "video/mp4")


@pytest.mark.parametrize(
    ("change", "content", "status", "says"),
    [
        ({}, b"12345678901", 400, "EntityTooLarge"),
        ({"Content-Type": "text/html"}, b"1", 403, "Policy Condition failed"),
        ({"key": "uploads/victim/u9/source"}, b"1", 403, "Policy Condition failed"),
        ({"acl": "public-read"}, b"1", 403, "Extra input fields: acl"),
        ({"policy": None}, b"1", 403, "must contain a field named 'policy'"),
        ({"x-amz-signature": "0" * 64}, b"1", 403, "SignatureDoesNotMatch"),
    ],
)
def test_a_form_s3_would_refuse_is_refused(
    aws: EmbeddedAws, change: dict[str, Any], content: bytes, status: int, says: str
):
    granted = form(aws)
    fields = {k: v for k, v in {**granted["fields"], **change}.items() if v is not None}
    answered, text = post(granted["url"], fields, content)
    assert answered == status and says in text


def test_neither_a_query_string_nor_a_field_spelled_twice_gets_around_the_policy(aws: EmbeddedAws):
    granted = form(aws)
    assert post(granted["url"] + "?x=1", {})[0] == 403
    twice = [*granted["fields"].items(), ("Key", "uploads/victim/u9/source")]
    status, text = post(granted["url"], twice)
    assert status == 400 and "more than once" in text


def test_forms_and_links_expire_and_a_tampered_link_is_refused(aws: EmbeddedAws):
    aws.client("s3").put_object(Bucket=BUCKET, Key="outputs/owner/a.mp4", Body=b"video")
    link = presigner(aws).generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "outputs/owner/a.mp4"}, ExpiresIn=60
    )
    granted = form(aws)
    assert requests.get(link, timeout=30).content == b"video"
    tampered = requests.get(link.replace("outputs/owner/a.mp4", "outputs/other/a.mp4"), timeout=30)
    assert (tampered.status_code, "SignatureDoesNotMatch" in tampered.text) == (403, True)
    aws.s3_checks.advance(61)
    expired = requests.get(link, timeout=30)
    assert (expired.status_code, "Request has expired" in expired.text) == (403, True)
    status, text = post(granted["url"], granted["fields"])
    assert (status, "Policy expired" in text) == (403, True)
