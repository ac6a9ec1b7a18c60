"""The API's SnapStart hooks (the stack's ``apiSnapStart``), registered through the runtime's own library and
run as Lambda runs them: priming reads, builds and refuses, and leaves nothing behind; each
restored environment draws its own random numbers."""

from __future__ import annotations

import random
import re
import sys
from typing import Any

import boto3
import pytest
import snapshot_restore_py

from functions.api import handler as api_handler
from functions.api.service import JobService
from functions.jobs.errors import DependencyUnavailable
from functions.jobs.names import JOB_ID_PATTERN
from functions.shared import aws, snapstart
from functions.shared.models import build_models, defined_models
from local.embedded import embedded_aws
from tests.integration.conftest import REGION, TABLE

pytestmark = pytest.mark.integration


def run_before_snapshot() -> None:
    """As the runtime does before it snapshots: in reverse order of registration."""
    for function, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        function(*args, **kwargs)


def run_after_restore() -> None:
    for function, args, kwargs in snapshot_restore_py.get_after_restore():
        function(*args, **kwargs)


def test_the_api_registers_its_priming_and_a_reseed_with_the_runtime():
    assert (api_handler.prime, (), {}) in snapshot_restore_py.get_before_snapshot()
    assert (random.seed, (), {}) in snapshot_restore_py.get_after_restore()


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """What the API's logger is asked to write (its handler holds the stdout of its import)."""
    lines: list[tuple[str, str, dict[str, Any]]] = []
    for level in ("debug", "info", "warning", "error", "exception"):
        monkeypatch.setattr(
            api_handler.logger,
            level,
            lambda message, *_, level=level, **fields: lines.append((level, message, fields)),
        )
    return lines


def test_priming_builds_the_first_requests_work_and_changes_nothing(
    invoke_api: Any, input_queue: str, calls: Any, logged: list[Any], monkeypatch: pytest.MonkeyPatch
):
    closed: list[int] = []
    monkeypatch.setattr(aws, "close_connections", lambda: closed.append(1) or 0)
    built: list[list[str]] = []
    monkeypatch.setattr(api_handler, "build_models", lambda: built.append(build_models()) or built[-1])
    assert api_handler._service.cache_info().currsize == 0
    run_before_snapshot()
    assert api_handler._service.cache_info().currsize == 1
    # One consistent read of a job no one has; nothing written, sent, logged or counted.
    assert dict(calls) == {"BatchGetItem": 1}
    assert logged == []
    assert api_handler.metrics.metric_set == {}
    assert closed == [1]  # the read's connection, not kept in the snapshot
    assert built == [[]]  # none failed to build
    assert [model.__qualname__ for model in defined_models() if not model.__pydantic_complete__] == []
    assert boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Count"] == 0
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=input_queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
    # The primed environment answers as a fresh one would, on the service priming built.
    service = api_handler._service()
    status, _, body = invoke_api("GET", "/jobs/no-such-job")
    assert (status, body["code"]) == (404, "JOB_NOT_FOUND")
    status, _, _ = invoke_api("POST", "/jobs", {"input_asset": {"type": "VIDEO"}})
    assert status == 400
    assert api_handler._service() is service


def test_the_priming_job_id_is_one_no_caller_can_give():
    assert not re.fullmatch(JOB_ID_PATTERN, api_handler._PRIMING_JOB_ID)


def test_a_failing_priming_step_is_logged_and_the_snapshot_still_taken(
    invoke_api: Any, logged: list[Any], monkeypatch: pytest.MonkeyPatch
):
    """A hook that raises fails the snapshot, and with it the deploy: priming is worth less."""

    def unavailable(*_: Any, **__: Any) -> None:
        raise DependencyUnavailable("DynamoDB: ProvisionedThroughputExceededException")

    monkeypatch.setattr(JobService, "get", unavailable)
    monkeypatch.setattr(api_handler, "_PRIMING_REQUEST", {**api_handler._PRIMING_REQUEST, "path": "/nowhere"})
    api_handler.prime()
    assert [(level, message) for level, message, _ in logged] == [
        ("warning", "priming: the read failed"),
        ("warning", "priming: the refused submit was answered otherwise"),
    ]
    assert "ProvisionedThroughputExceededException" in logged[0][2]["error"]
    assert logged[1][2] == {"status": 404}


def test_closed_connections_are_opened_again_at_the_next_call():
    """Against a real HTTP server: the pooled connection goes, the client stays usable."""
    with embedded_aws() as server:
        sqs = aws.client("sqs", region=server.region, endpoint=server.endpoint)
        sqs.create_queue(QueueName="primed")
        pools = sqs._endpoint.http_session._manager.pools
        assert len(pools) == 1
        assert aws.close_connections() >= 1
        assert len(pools) == 0
        assert sqs.list_queues()["QueueUrls"][0].endswith("/primed")
        assert len(pools) == 1


def test_environments_restored_from_one_snapshot_draw_different_jitter():
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)  # what every restored environment starts from
        run_after_restore()
        draws.append([random.random() for _ in range(4)])
    assert draws[0] != draws[1]
    without_hooks = []
    for _ in range(2):
        random.setstate(snapshot)
        without_hooks.append([random.random() for _ in range(4)])
    assert without_hooks[0] == without_hooks[1]  # what the reseed is for


def test_without_the_runtimes_library_nothing_is_registered(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    assert snapstart.register_hooks(lambda: None) is False
