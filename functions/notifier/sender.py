"""Sending one queued webhook: check the target, sign, POST, and on failure hide the delivery
message for its backoff (its next attempt). No AWS here: the queue and the secrets are passed in."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from functions.messaging.base import MessageQueue
from functions.notifier.webhooks import TIMEOUT_SECONDS, backoff_seconds, signed_headers
from functions.shared.urls import UnsafeUrl, check_fetchable_url

Post = Callable[[str, bytes, Mapping[str, str], float], int]  # (url, body, headers, timeout) -> status


class Outcome(StrEnum):
    DELIVERED = "DELIVERED"
    REFUSED = "REFUSED"  # never deliverable (an unsafe URL): dropped, not retried
    RETRY = "RETRY"  # the message comes back after its backoff


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    detail: str = ""
    next_in: int | None = None  # seconds, for RETRY


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))  # noqa: S310 - checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class WebhookSender:
    def __init__(
        self,
        queue: MessageQueue,
        secrets: Callable[[], list[str]],
        *,
        allow_private: bool,
        post: Post = post_json,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._queue = queue
        self._secrets = secrets
        self._allow_private = allow_private
        self._post = post
        self._jitter = jitter

    def attempt(self, message: str, receipt_handle: str, attempt: int, now: int) -> Attempt:
        """Attempt number ``attempt`` of the delivery ``message`` ({url, event}) at ``now``."""
        delivery = json.loads(message)
        url, event = delivery["url"], delivery["event"]
        schemes = frozenset({"https"} | ({"http"} if self._allow_private else set()))
        try:
            check_fetchable_url(url, schemes=schemes, allow_private=self._allow_private)
        except UnsafeUrl as exc:
            return Attempt(Outcome.REFUSED, f"{url} {exc}")
        body = json.dumps(event, separators=(",", ":"))
        headers = signed_headers(self._secrets(), event["id"], now, body)
        try:
            status = self._post(url, body.encode(), headers, TIMEOUT_SECONDS)
        except OSError as exc:
            status, detail = 0, str(exc)
        else:
            detail = f"HTTP {status}"
        if 200 <= status < 300:
            return Attempt(Outcome.DELIVERED, detail)
        delay = backoff_seconds(attempt, self._jitter())
        self._queue.change_visibility(receipt_handle, delay)
        return Attempt(Outcome.RETRY, f"attempt {attempt} to {url}: {detail}", delay)
