"""The API's SnapStart hooks (``api.snapStart``), registered through the runtime's own library and
run as Lambda runs them: priming reads, builds and refuses, and leaves nothing behind; each
restored environment draws its own random numbers."""

from __future__ import annotations

import random
import sys
from typing import Any

import boto3
import pytest
import snapshot_restore_py

from functions.api import handler as api_handler
from functions.shared import snapstart
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


def test_priming_builds_the_first_requests_work_and_changes_nothing(
    invoke_api: Any, input_queue: str, calls: Any, capsys: pytest.CaptureFixture[str]
):
    assert api_handler._service.cache_info().currsize == 0
    run_before_snapshot()
    assert api_handler._service.cache_info().currsize == 1
    # One consistent read of a job no one has; nothing written, sent, logged or counted.
    assert dict(calls) == {"BatchGetItem": 1}
    assert capsys.readouterr().out == ""
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


def test_priming_fails_loudly_if_its_refused_submit_is_accepted(
    invoke_api: Any, monkeypatch: pytest.MonkeyPatch
):
    """A snapshot of an environment whose priming went wrong is not taken: Lambda fails the version."""
    monkeypatch.setattr(api_handler, "_PRIMING_REQUEST", {**api_handler._PRIMING_REQUEST, "path": "/nowhere"})
    with pytest.raises(RuntimeError, match="priming: the refused submit was answered 404"):
        api_handler.prime()


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
    assert snapstart.on_snapshot(lambda: None) is False
