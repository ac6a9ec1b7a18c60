"""Reading a playlist from S3 as the API's role can (botocore's Stubber, no network): a missing key
is None whether S3 says 404 (a role that may list) or 403 (one that may not), an empty object is
empty (S3 refuses its byte range), anything else is raised."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from functions.api.media_s3 import S3Reader

RANGE = {"Bucket": "media", "Key": "outputs/o/j/v.m3u8", "Range": "bytes=0-100"}


def reader_answering(method: str, **answer: object) -> S3Reader:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    stubber = Stubber(client)
    if method == "ok":
        body = answer["body"]
        assert isinstance(body, bytes)
        stubber.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))}, RANGE)
    else:
        stubber.add_client_error(
            "get_object", service_error_code=method, http_status_code=answer["status"], expected_params=RANGE
        )
    stubber.activate()
    return S3Reader(lambda: client)


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("AccessDenied", 403)])
def test_a_missing_playlist_is_none_whatever_s3_says(code: str, status: int):
    assert reader_answering(code, status=status).read("media", "outputs/o/j/v.m3u8", max_bytes=100) is None


def test_an_empty_playlist_is_empty_and_a_present_one_is_read():
    assert (
        reader_answering("InvalidRange", status=416).read("media", "outputs/o/j/v.m3u8", max_bytes=100) == b""
    )
    read = reader_answering("ok", body=b"#EXTM3U\n").read("media", "outputs/o/j/v.m3u8", max_bytes=100)
    assert read == b"#EXTM3U\n"


def test_any_other_failure_is_raised():
    with pytest.raises(ClientError):
        reader_answering("SlowDown", status=503).read("media", "outputs/o/j/v.m3u8", max_bytes=100)
