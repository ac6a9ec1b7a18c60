"""The local API Gateway checks SigV4 as API Gateway does: the key, the credential scope (date,
region, service), a request dated within 15 minutes of now, and the host header signed."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.gateway import Gateway, Principal, Route

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CREDENTIALS = Credentials("testing", "testing")
HOST = "127.0.0.1:8080"
PRINCIPAL_ARN = "arn:aws:iam::123456789012:user/t"


def gateway() -> Gateway:

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {}, "body": json.dumps(event["requestContext"]["identity"])}

    route = Route("GET", "/jobs", re.compile("^/jobs$"), "AWS_IAM")
    return Gateway(
        handler,
        [route],
        stage="prod",
        region="us-east-1",
        principals=[Principal(CREDENTIALS.access_key, CREDENTIALS.secret_key, PRINCIPAL_ARN)],
        clock=lambda: NOW,
    )


def signed_headers(
    *,
    at: datetime = NOW,
    region: str = "us-east-1",
    service: str = "execute-api",
    without_host: bool = False,
    credentials: Credentials = CREDENTIALS,
) -> dict[str, str]:
    request = AWSRequest(method="GET", url=f"http://{HOST}/prod/jobs", headers={"Host": HOST})
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        SigV4Auth(credentials, service, region).add_auth(request)
    headers = dict(request.headers.items())
    if without_host:
        # Re-signed with an Authorization that leaves host out of the signed headers.
        headers["Authorization"] = headers["Authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    return headers


def call(headers: dict[str, str]) -> tuple[str, bytes]:
    status, _, body = call_with(gateway(), headers)
    return status, body


def test_a_request_signed_now_for_this_region_is_let_through_as_its_principal():
    status, body = call(signed_headers())
    assert status.startswith("200")
    identity = json.loads(body)  # as API Gateway passes it for IAM authorization
    assert (identity["accessKey"], identity["userArn"]) == (CREDENTIALS.access_key, PRINCIPAL_ARN)


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        (lambda: signed_headers(at=NOW - timedelta(days=365)), b"Signature expired"),
        (lambda: signed_headers(at=NOW + timedelta(days=365)), b"Signature expired"),
        (lambda: signed_headers(at=NOW - timedelta(minutes=16)), b"Signature expired"),
        (lambda: signed_headers(region="eu-west-1"), b"security token"),
        (lambda: signed_headers(service="s3"), b"security token"),
        (lambda: signed_headers(without_host=True), b"'Host' must be a signed header"),
        (lambda: signed_headers(credentials=Credentials("AKIAUNKNOWN", "x")), b"security token"),
    ],
    ids=[
        "a year ago",
        "a year ahead",
        "16 minutes ago",
        "another region",
        "another service",
        "host unsigned",
        "an unknown key",
    ],
)
def test_what_api_gateway_refuses_is_refused(headers, says):
    status, body = call(headers())
    assert status.startswith("403") and says in body


def test_a_date_outside_the_credential_scope_is_refused():
    headers = signed_headers()
    headers["Authorization"] = headers["Authorization"].replace("/20261130/", "/20261129/")
    status, body = call(headers)
    assert status.startswith("403") and b"scoped to a valid date" in body


def test_fourteen_minutes_of_skew_is_accepted():
    assert call(signed_headers(at=NOW - timedelta(minutes=14)))[0].startswith("200")


# ------------------------------------------------------------------ TOKEN authorizer (auth mode jwt)


def custom_gateway(authorizer: Any) -> Gateway:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {}, "body": json.dumps(event["requestContext"]["authorizer"])}

    return Gateway(
        handler,
        [Route("GET", "/jobs", re.compile("^/jobs$"), "CUSTOM")],
        stage="prod",
        region="us-east-1",
        principals=[],
        authorizer=authorizer,
        error_headers={"Access-Control-Allow-Origin": "method.request.header.Origin", "Vary": "'Origin'"},
    )


def call_with(gateway_: Gateway, headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    """A GET /prod/jobs with ``headers``, as the local stack's server hands it over."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/prod/jobs",
        "QUERY_STRING": "",
        "HTTP_HOST": HOST,
        "wsgi.input": io.BytesIO(b""),
        "RAW_URI": "/prod/jobs",
        "RAW_HEADERS": list(headers.items()),
    }
    answer: list[Any] = []
    body = b"".join(gateway_(environ, lambda line, sent: answer.extend([line, dict(sent)])))
    return answer[0], answer[1], body


def policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": "user-1",
        "policyDocument": {
            "Statement": [{"Effect": effect, "Action": "execute-api:Invoke", "Resource": resource}]
        },
        "context": {"client_id": "site-a"},
    }


def test_an_allowed_token_passes_the_authorizers_context_to_the_function():
    seen: list[dict[str, Any]] = []

    def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:local/prod/*/*")

    status, _, body = call_with(custom_gateway(authorizer), {"Authorization": "Bearer t"})
    assert status.startswith("200")
    assert json.loads(body) == {"client_id": "site-a", "principalId": "user-1"}
    assert seen[0]["type"] == "TOKEN" and seen[0]["authorizationToken"] == "Bearer t"
    assert seen[0]["methodArn"].endswith("/prod/GET/jobs")


@pytest.mark.parametrize(
    ("authorizer", "headers", "expected"),
    [
        (lambda e, c: policy("Allow", "*"), {}, "401"),  # no token: the authorizer is not asked
        (lambda e, c: (_ for _ in ()).throw(Exception("Unauthorized")), {"Authorization": "x"}, "401"),
        (lambda e, c: policy("Deny", "*"), {"Authorization": "x"}, "403"),
        (
            lambda e, c: policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:local/prod/POST/*"),
            {"Authorization": "x"},
            "403",
        ),
        (lambda e, c: (_ for _ in ()).throw(KeyError("bug")), {"Authorization": "x"}, "500"),
    ],
)
def test_refusals_are_the_gateways_with_its_response_headers(
    authorizer: Any, headers: dict[str, str], expected: str
):
    status, sent, body = call_with(custom_gateway(authorizer), {**headers, "Origin": "https://app.example"})
    assert status.startswith(expected)
    assert set(json.loads(body)) == {"code", "message", "details"}
    assert (sent["Access-Control-Allow-Origin"], sent["Vary"]) == ("https://app.example", "Origin")
