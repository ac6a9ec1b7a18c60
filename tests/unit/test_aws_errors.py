"""Which AWS failures are worth another try (the engine retries its task), and which are final."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from engine.errors import ActivityError, Reason, TransientError, aws_failure
from functions.shared.aws import is_transient


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    "error",
    [
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
        client_error("ThrottlingException", 400),
        client_error("RequestTimeout", 400),
        client_error("Whatever", 502),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ],
)
def test_throttling_server_errors_and_lost_connections_are_tried_again(error):
    assert is_transient(error)
    assert isinstance(aws_failure(error, Reason.S3_OPS_FAILED, "reading"), TransientError)


@pytest.mark.parametrize(
    "error", [client_error("NoSuchKey", 404), client_error("AccessDenied", 403), ValueError("x")]
)
def test_a_missing_object_or_a_refusal_is_final(error):
    assert not is_transient(error)
    failure = aws_failure(error, Reason.INPUT_UNREACHABLE, "s3://media/in.mp4")
    assert isinstance(failure, ActivityError) and failure.reason is Reason.INPUT_UNREACHABLE
    assert failure.details.startswith("s3://media/in.mp4: ")
