"""What the API does with the caller's webhook: set its URL (its first secret made and shown
once), read it (never a secret), rotate its secret, remove it. Every operation acts on the
caller's own webhook: there is no way to name another owner's."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from functions.api.errors import Conflict, InvalidRequest, WebhookNotFound
from functions.jobs.owners import Caller
from functions.shared.urls import UnsafeUrl, UrlPolicy, check_fetchable_url
from functions.webhooks.registry import (
    OwnerWebhook,
    WebhookConflict,
    WebhookRegistry,
    new_secret,
    rotated,
    with_url,
)


@dataclass(frozen=True)
class WebhookChange:
    webhook: OwnerWebhook
    secret: str | None  # a secret made by this change (shown this once), else None
    created: bool = False


class WebhookService:
    def __init__(
        self,
        registry: WebhookRegistry,
        url_policy: UrlPolicy,
        *,
        clock: Callable[[], float] = time.time,
        make_secret: Callable[[], str] = new_secret,
    ) -> None:
        self._registry = registry
        self._url_policy = url_policy
        self._clock = clock
        self._make_secret = make_secret

    def get(self, caller: Caller) -> OwnerWebhook:
        found = self._registry.get(caller.owner)
        if found is None:
            raise WebhookNotFound("you have no webhook: PUT /webhook sets one")
        return replace(found, secrets=found.active(self._clock()))  # those retired since: gone

    def set_url(self, caller: Caller, url: str) -> WebhookChange:
        try:
            check_fetchable_url(url, self._url_policy)
        except UnsafeUrl as exc:
            raise InvalidRequest(
                "the webhook URL must be one the stack may call",
                [{"loc": ["body", "url"], "msg": f"URL {exc}", "type": "unsafe_url"}],
            ) from None
        current = self._registry.get(caller.owner)
        webhook, secret = with_url(current, caller.owner, url, self._clock(), self._make_secret)
        self._save(webhook, current)
        return WebhookChange(webhook, secret, created=current is None)

    def rotate(self, caller: Caller) -> WebhookChange:
        current = self._registry.get(caller.owner)
        if current is None:
            raise WebhookNotFound("you have no webhook: PUT /webhook sets one")
        webhook, secret = rotated(current, self._clock(), self._make_secret)
        self._save(webhook, current)
        return WebhookChange(webhook, secret)

    def delete(self, caller: Caller) -> None:
        if not self._registry.delete(caller.owner):
            raise WebhookNotFound("you have no webhook")

    def _save(self, webhook: OwnerWebhook, current: OwnerWebhook | None) -> None:
        try:
            self._registry.save(webhook, previous_revision=current.revision if current else None)
        except WebhookConflict:
            raise Conflict("CONCURRENT_UPDATE", "your webhook changed meanwhile: retry") from None
