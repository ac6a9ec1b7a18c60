"""The cross-owner matrix, over HTTP, for any auth mode: two client apps on one stack, every route,
and nothing of one app's visible to or changeable by the other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cpe_client.client import ApiError, JobsClient

TIMEOUT = 180


def refused(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ApiError) as error:
        call()
    return error.value.status, error.value.code


def assert_owners_kept_apart(
    a: JobsClient,
    b: JobsClient,
    job: Callable[[str], dict[str, Any]],
    *,
    owners: tuple[str, str],
    upload: Path,
    webhook_url: str,
) -> None:
    """``job(name)``: a small job writing outputs named ``name``; ``owners``: what the API names
    the two apps; ``upload``: a file A uploads, which B's job may not take; ``webhook_url``: where
    A's webhook points (a URL the stack may call)."""
    mine = a.submit(job("a"), idempotency_key="matrix-1")
    theirs = b.submit(job("b"), idempotency_key="matrix-1")
    assert mine["jobId"] != theirs["jobId"]  # one Idempotency-Key, two owners: two jobs
    assert (mine["owner"], theirs["owner"]) == owners
    # Reading, following, cancelling another app's job: it does not exist.
    for ask in (b.get, lambda job_id: b.get(job_id, include="results"), b.events, b.cancel):
        assert refused(lambda ask=ask: ask(mine["jobId"])) == (404, "JOB_NOT_FOUND")
    # Lists, with and without filters, show your own jobs only.
    for kwargs in ({}, {"created_after": mine["createdAt"]}, {"status": mine["status"]}):
        listed_by_a = {j["jobId"] for j in a.list(limit=100, **kwargs)["items"]}
        listed_by_b = {j["jobId"] for j in b.list(limit=100, **kwargs)["items"]}
        assert theirs["jobId"] not in listed_by_a and mine["jobId"] not in listed_by_b, kwargs
    assert refused(lambda: b.list(owner=owners[0])) == (403, "FORBIDDEN")
    # My key with my body, sent by the other app: its own key's request, not a replay of mine.
    assert refused(lambda: b.submit(job("a"), idempotency_key="matrix-1")) == (409, "IDEMPOTENCY_KEY_REUSED")
    # My jobId, my body: still not the other app's to replay.
    assert refused(lambda: b.submit(job("a") | {"jobId": mine["jobId"]})) == (409, "JOB_ID_TAKEN")
    # My upload: not the other app's input.
    source = a.upload(upload)["input_asset"]
    status, code = refused(lambda: b.submit({**job("b2"), "input_asset": source}))
    assert (status, code) == (400, "INVALID_REQUEST")
    # My webhook: B can neither see, rotate nor remove it; B's PUT makes B's own.
    mine_hook = a.set_webhook(webhook_url)
    for ask in (b.get_webhook, b.rotate_webhook_secret, b.delete_webhook):
        assert refused(ask) == (404, "WEBHOOK_NOT_FOUND")
    theirs_hook = b.set_webhook(webhook_url)
    assert theirs_hook["secret"] != mine_hook["secret"]
    assert a.get_webhook()["updatedAt"] == mine_hook["updatedAt"]
    b.delete_webhook()
    a.delete_webhook()
    for client, submitted in ((a, mine), (b, theirs)):
        assert client.watch(submitted["jobId"], interval=0.3, timeout=TIMEOUT)["status"] == "COMPLETED"
    assert a.get(mine["jobId"])["cancelRequested"] is False  # the other app's cancel changed nothing
