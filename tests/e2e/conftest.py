"""End-to-end: the local stack started once, used as a user would, over HTTP (the job API) and
through AWS's endpoint for what a user does in AWS itself (uploading inputs, reading outputs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from cpe_client.client import JobsClient
from local import sample_media
from local.run import WebhookReceiver
from local.stack import LOCAL_PRINCIPAL, PEER_PRINCIPAL, LocalStack, local_stack

BUCKET = "e2e-media"


# Module scope: the stack sets this process's environment (the handlers read it), which must not
# outlive the e2e tests in a worker that runs other tests afterwards.
@pytest.fixture(scope="module")
def receiver() -> WebhookReceiver:
    return WebhookReceiver()


@pytest.fixture(scope="module")
def app_receivers() -> tuple[WebhookReceiver, WebhookReceiver]:
    """Each client app's own webhook endpoint (PUT /webhook), trusted as local endpoints."""
    return WebhookReceiver(), WebhookReceiver()


@pytest.fixture(scope="module")
def stack(receiver: WebhookReceiver, app_receivers: tuple[WebhookReceiver, ...]) -> Iterator[LocalStack]:
    with local_stack(
        engine_jobs=2,
        progress_interval=0.5,
        retry_after_seconds=1,
        webhook_urls=[receiver.url],
        trusted_urls=[r.url for r in app_receivers],
        principals=(LOCAL_PRINCIPAL, PEER_PRINCIPAL),  # two client apps: owners
    ) as running:
        assert running.webhook_secret_arn is not None
        secret = running.aws.client("secretsmanager").get_secret_value(SecretId=running.webhook_secret_arn)
        receiver.secret = secret["SecretString"]
        yield running


# A request's own timeout, only so that a broken stack cannot hang the suite: the local gateway
# serves one request at a time (as one Lambda environment does), so twenty at once on a starved
# machine can wait far longer than the client's default 30 s (a fresh-clone run beside a benchmark
# timed out so).
REQUEST_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> JobsClient:
    return JobsClient(stack.api_url, region=stack.aws.region, timeout=REQUEST_TIMEOUT)


@pytest.fixture(scope="module")
def peer(stack: LocalStack) -> JobsClient:
    """The API as a second client app calls it: another IAM principal (a role's session)."""
    session = botocore.session.get_session()
    session.set_credentials(PEER_PRINCIPAL.access_key, PEER_PRINCIPAL.secret_key)
    return JobsClient(stack.api_url, region=stack.aws.region, session=session, timeout=REQUEST_TIMEOUT)


@pytest.fixture(scope="module")
def s3(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    client = stack.aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    media = tmp_path_factory.mktemp("e2e-media")
    client.upload_file(
        str(sample_media.video(media / "clip.mp4", seconds=8, size=(640, 360))), BUCKET, "in/clip.mp4"
    )
    client.upload_file(str(sample_media.corrupt(media / "bad.mp4")), BUCKET, "in/bad.mp4")
    return client


def download(s3: Any, key: str, folder: Path) -> Path:
    target = folder / key.replace("/", "_")
    s3.download_file(BUCKET, key, str(target))
    return target
