"""The API as a browser app uses it, on a local stack that allows one app's origin: the preflight
answered by the gateway without auth, and the grant on every answer, errors included."""

from __future__ import annotations

from collections.abc import Iterator

import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from local.stack import LocalStack, local_stack
from tests.e2e.conftest import REQUEST_TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
APP = "http://localhost:5173"
OTHER_APP = "https://app.example"
CONFIG = {"cors": {"allowedOrigins": [OTHER_APP, APP], "maxAgeSeconds": 120}}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with local_stack(engine_jobs=1, config=CONFIG) as running:
        yield running


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
        assert set(answer.headers["Access-Control-Allow-Methods"].split(",")) == {"GET", "OPTIONS", "POST"}
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
