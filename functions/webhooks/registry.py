"""Each owner's webhook (design section 8): the one URL its jobs' events go to, and its own
signing secrets, so that no client app can verify, or forge, another's events. Pure: the
registry's storage is passed in (functions.webhooks.dynamo on AWS, the twin below in tests).

A secret is shown once, when made. Rotating makes a new one and keeps the previous one signing
for ``ROTATION_GRACE_SECONDS`` (Standard Webhooks lists every active signature), so a receiver
can switch without losing a delivery."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from functions.notifier.webhooks import SECRET_PREFIX

ROTATION_GRACE_SECONDS = 24 * 3600
SECRET_BYTES = 24
MAX_SECRETS = 3  # the current one and those retiring (each signature is work for every delivery)


class WebhookConflict(Exception):
    """Another request changed the owner's webhook meanwhile: read it again and retry."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True)
class SigningSecret:
    value: str
    created_at: float
    expires_at: float | None = None  # set when a rotation retires it


@dataclass(frozen=True)
class OwnerWebhook:
    owner: str
    url: str
    secrets: tuple[SigningSecret, ...]  # the newest first
    updated_at: float
    # Unique per write (never a counter: a webhook deleted and made again would restart it, and a
    # rotation that read the old one would then overwrite the new one).
    revision: str = ""

    def active(self, now: float) -> tuple[SigningSecret, ...]:
        return tuple(s for s in self.secrets if s.expires_at is None or s.expires_at > now)

    def active_secrets(self, now: float) -> list[str]:
        return [s.value for s in self.active(now)]


class WebhookRegistry(Protocol):
    def get(self, owner: str) -> OwnerWebhook | None: ...

    def url_of(self, owner: str) -> str | None:
        """Only the URL (the notifier may read nothing else of the item)."""
        ...

    def save(self, webhook: OwnerWebhook, *, previous_revision: str | None) -> None:
        """Writes ``webhook`` if the stored one still has ``previous_revision`` (None: there is
        none); raises WebhookConflict otherwise."""
        ...

    def delete(self, owner: str) -> bool: ...


def with_url(
    current: OwnerWebhook | None,
    owner: str,
    url: str,
    now: float,
    make_secret: Callable[[], str] = new_secret,
) -> tuple[OwnerWebhook, str | None]:
    """The owner's webhook sending to ``url``; the secret made if it had none (shown once)."""
    if current is not None:
        return replace(current, url=url, updated_at=now, revision=_revision()), None
    secret = make_secret()
    return OwnerWebhook(owner, url, (SigningSecret(secret, now),), now, _revision()), secret


def rotated(
    current: OwnerWebhook, now: float, make_secret: Callable[[], str] = new_secret
) -> tuple[OwnerWebhook, str]:
    """A new secret first; the ones still active retire within the grace; retired ones go. At most
    MAX_SECRETS sign: rotating again within the grace retires the oldest at once."""
    secret = make_secret()
    retiring = tuple(
        replace(s, expires_at=s.expires_at if s.expires_at is not None else now + ROTATION_GRACE_SECONDS)
        for s in current.active(now)
    )
    kept = (SigningSecret(secret, now), *retiring)[:MAX_SECRETS]
    return replace(current, secrets=kept, updated_at=now, revision=_revision()), secret


def _revision() -> str:
    return uuid.uuid4().hex


class MemoryWebhookRegistry:
    def __init__(self) -> None:
        self.items: dict[str, OwnerWebhook] = {}

    def get(self, owner: str) -> OwnerWebhook | None:
        return self.items.get(owner)

    def url_of(self, owner: str) -> str | None:
        found = self.items.get(owner)
        return found.url if found else None

    def save(self, webhook: OwnerWebhook, *, previous_revision: str | None) -> None:
        stored = self.items.get(webhook.owner)
        if (stored.revision if stored else None) != previous_revision:
            raise WebhookConflict(webhook.owner)
        self.items[webhook.owner] = webhook

    def delete(self, owner: str) -> bool:
        return self.items.pop(owner, None) is not None
