"""Sending one queued webhook: check the target, sign, POST, and on failure hide the delivery
message for its backoff (its next attempt). No AWS here: the queue and the secrets are passed in."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from functions.messaging.base import MessageQueue
from functions.notifier.webhooks import TIMEOUT_SECONDS, backoff_seconds, signed_headers
from functions.shared.http import HttpFailed, SafeHttp
from functions.shared.urls import UnsafeUrl, UrlPolicy
from functions.webhooks.registry import OwnerWebhook


class Outcome(StrEnum):
    DELIVERED = "DELIVERED"
    REFUSED = "REFUSED"  # never deliverable (an unsafe URL): dropped, not retried
    RETRY = "RETRY"  # the message comes back after its backoff


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    detail: str = ""
    next_in: int | None = None  # seconds, for RETRY


class WebhookSender:
    def __init__(
        self,
        queue: MessageQueue,
        secrets: Callable[[], list[str]],
        *,
        policy: UrlPolicy,
        jitter: Callable[[], float] = random.random,
        owner_webhook: Callable[[str], OwnerWebhook | None] = lambda owner: None,
    ) -> None:
        """``secrets``: the stack's; ``owner_webhook``: an owner's webhook, whose active secrets
        alone sign a delivery that names the owner."""
        self._queue = queue
        self._secrets = secrets
        self._owner_webhook = owner_webhook
        self._policy = policy
        self._jitter = jitter

    def attempt(self, message: str, receipt_handle: str, attempt: int, now: int) -> Attempt:
        """Attempt number ``attempt`` of the delivery ``message`` ({url, event}) at ``now``."""
        delivery = json.loads(message)
        url, event, owner = delivery["url"], delivery["event"], delivery.get("owner")
        if owner:
            webhook = self._owner_webhook(owner)
            if webhook is None:  # removed since: nobody may verify this one
                return Attempt(Outcome.REFUSED, f"{url}: its owner's webhook was removed")
            if delivery.get("webhook") and webhook.url != url:  # moved since: not to the old place
                return Attempt(Outcome.REFUSED, f"{url}: its owner's webhook moved")
            secrets = webhook.active_secrets(now)
        else:
            secrets = self._secrets()
        body = json.dumps(event, separators=(",", ":"))
        headers = signed_headers(secrets, event["id"], now, body)
        # A redirect is an answer like any other (a failed attempt), never followed: its target
        # would get a signed event, and a 303 would turn the POST into a GET of anything.
        http = SafeHttp(self._policy, connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS)
        try:
            answer = http.request("POST", url, headers=headers, body=body.encode(), follow_redirects=False)
            answer.close()  # the status is the answer; its body is not read
            status, detail = answer.status, f"HTTP {answer.status}"
        except UnsafeUrl as exc:
            return Attempt(Outcome.REFUSED, f"{url} {exc}")
        except (HttpFailed, OSError) as exc:
            status, detail = 0, str(exc)
        if 200 <= status < 300:
            return Attempt(Outcome.DELIVERED, detail)
        delay = backoff_seconds(attempt, self._jitter())
        self._queue.change_visibility(receipt_handle, delay)
        return Attempt(Outcome.RETRY, f"attempt {attempt} to {url}: {detail}", delay)
