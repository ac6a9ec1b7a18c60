"""Embedded AWS: moto in server mode, in-process, on a free localhost port, with fake credentials."""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local.faults import FaultyEdge
from local.moto_speedups import faster_moto
from local.s3_checks import S3Checks

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class EmbeddedAws:
    endpoint: str
    region: str
    faults: FaultyEdge = field(compare=False)  # injects nothing unless a test or the chaos run asks
    s3_checks: S3Checks = field(compare=False)  # what S3 checks of forms and links, moto does not

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _SerializedDynamoDb:
    """moto's DynamoDB is not atomic under concurrent requests (a conditional write can interleave
    with another): one DynamoDB request at a time, at moto's edge. Other services (SQS long polls)
    keep running concurrently."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


@contextmanager
def embedded_aws(region: str = "us-east-1") -> Iterator[EmbeddedAws]:
    """Start moto's server and point every AWS SDK call of this process at it."""
    with faster_moto():
        yield from _serving(region)


def _serving(region: str) -> Iterator[EmbeddedAws]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server
    if wsgi is None:
        raise RuntimeError("moto's server did not start")
    faults = FaultyEdge(wsgi.app)
    s3_checks = S3Checks(
        faults, {FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]: FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    )
    wsgi.app = _SerializedDynamoDb(s3_checks)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start empty, and leave nothing behind for
    # the next emulator in this process (a test module's stack, a second chaos run).
    _reset(endpoint)
    try:
        with environment(
            **FAKE_CREDENTIALS,
            AWS_DEFAULT_REGION=region,
            AWS_REGION=region,
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
        ):
            yield EmbeddedAws(endpoint, region, faults, s3_checks)
    finally:
        _reset(endpoint)
        server.stop()


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - local
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - moto's own endpoint
        pass
