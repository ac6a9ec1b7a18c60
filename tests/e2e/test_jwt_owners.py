"""Auth mode jwt on the local stack: the stack's own TOKEN authorizer checks tokens of a local
OIDC issuer (HTTPS, discovery, JWKS), and owners are the tokens' client_id: two client apps kept
apart on every route, an operator seeing both, and tokens the authorizer refuses. The API runs
with SnapStart, primed before the tests as Lambda primes it before its snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cpe_client.client import JobsClient
from local import sample_media
from local.embedded import environment
from local.issuer import AUDIENCE, LocalIssuer
from local.run import WebhookReceiver
from local.stack import LocalStack, local_stack
from tests.e2e.conftest import REQUEST_TIMEOUT
from tests.e2e.owners import assert_owners_kept_apart, refused

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
BUCKET = "jwt-media"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> WebhookReceiver:
    """A webhook endpoint on this machine, trusted as the stack's own."""
    return WebhookReceiver()


@pytest.fixture(scope="module")
def stack(
    issuer: LocalIssuer, receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    config = {
        "auth": {"mode": "jwt", "issuer": issuer.url, "audience": [AUDIENCE]},
        "owners": {"claim": "client_id", "operators": ["ops-console"], "clientNames": {"site-b": "SiteB"}},
        # The API primed before its "snapshot", as Lambda does: the tests below run on that state.
        "apiSnapStart": True,
    }
    # The authorizer reaches the issuer over HTTPS: its certificate is this run's own.
    with (
        environment(SSL_CERT_FILE=str(issuer.ca_file)),
        local_stack(engine_jobs=1, config=config, trusted_urls=[receiver.url]) as running,
    ):
        s3 = running.aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        clip = sample_media.video(tmp_path_factory.mktemp("jwt") / "clip.mp4", seconds=1, size=(160, 90))
        s3.upload_file(str(clip), BUCKET, "in/clip.mp4")
        yield running


def test_the_api_was_primed_before_its_snapshot_and_only_it(stack: LocalStack):
    assert stack.primed == ["functions.api.handler.prime"]


def app(stack: LocalStack, issuer: LocalIssuer, client_id: str) -> JobsClient:
    token = issuer.token(f"{client_id}-machine", client_id=client_id)
    return JobsClient(stack.api_url, token=token, timeout=REQUEST_TIMEOUT)


def job(name: str) -> dict[str, object]:
    return {
        "input_asset": {"type": "VIDEO", "bucket": BUCKET, "file": "/in/clip.mp4"},
        "output_asset": {"type": "THUMB", "bucket": BUCKET, "file": f"/out/{name}.jpg"},
    }


def test_two_apps_with_tokens_see_and_change_only_their_own_jobs_and_an_operator_sees_both(
    stack: LocalStack, issuer: LocalIssuer, receiver: WebhookReceiver, tmp_path: Path
):
    site_a, site_b = app(stack, issuer, "site-a"), app(stack, issuer, "site-b")
    assert_owners_kept_apart(
        site_a,
        site_b,
        job,
        owners=("site-a", "site-b"),
        upload=sample_media.video(tmp_path / "a.mp4", seconds=1, size=(160, 90)),
        webhook_url=receiver.url,
    )
    operator = app(stack, issuer, "ops-console")
    owners = {j["owner"] for j in operator.list(limit=100)["items"]}
    assert {"site-a", "site-b"} <= owners
    only_b = operator.list(owner="site-b", limit=100)["items"]
    assert only_b and {j["owner"] for j in only_b} == {"site-b"}
    assert {j["clientName"] for j in only_b} == {"SiteB"}  # START_JOB carried the owner's client name


def test_tokens_the_authorizer_refuses_never_reach_the_api(stack: LocalStack, issuer: LocalIssuer):
    stranger = LocalIssuer()  # another issuer's key, the same claims
    try:
        forged = stranger.token("site-a-machine", client_id="site-a", iss=issuer.url)
        expired = issuer.token("site-a-machine", client_id="site-a", lifetime=-120)
        for token in (forged, expired, "not-a-jwt"):
            client = JobsClient(stack.api_url, token=token, timeout=REQUEST_TIMEOUT, max_attempts=1)
            assert refused(lambda client=client: client.list()) == (401, "UNAUTHORIZED")
    finally:
        stranger.close()
    unsigned = requests.get(stack.api_url + "jobs", timeout=REQUEST_TIMEOUT)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "UNAUTHORIZED")
