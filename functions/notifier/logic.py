"""What the notifier does with one write of a job: the "Job State Change" event (if the write
changed something a user cares about) published to the bus, and one delivery per webhook target
queued. No AWS here: the bus and the queue are passed in."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from functions.messaging.base import EventBus, MessageQueue
from functions.notifier.changes import DETAIL_TYPE, SOURCE, state_change_event
from functions.store.base import LoadedJob


@dataclass(frozen=True)
class Notified:
    event: dict[str, Any] | None  # None: nothing a user cares about changed
    webhooks: int = 0


class OwnerUrls:
    """Each owner's webhook URL, looked up once per stream batch (which often holds many records
    of one owner's jobs); ``forget`` at each batch, so that a URL set now is used from the next."""

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        self._lookup = lookup
        self._known: dict[str, str | None] = {}

    def __call__(self, owner: str) -> str | None:
        if owner not in self._known:
            self._known[owner] = self._lookup(owner)
        return self._known[owner]

    def forget(self) -> None:
        self._known.clear()


class StateChangeNotifier:
    def __init__(
        self,
        bus: EventBus,
        deliveries: MessageQueue,
        *,
        webhook_urls: Sequence[str],
        progress_step: int,
        owner_url: Callable[[str], str | None] = lambda owner: None,
    ) -> None:
        """``webhook_urls`` get every job's events, signed with the stack's secret; ``owner_url``
        names an owner's own webhook, which gets its jobs' events signed with its own secrets (as
        do their ``callbackUrl`` deliveries, once the owner has a webhook)."""
        self._bus = bus
        self._deliveries = deliveries
        self._webhook_urls = tuple(webhook_urls)
        self._progress_step = progress_step
        self._owner_url = owner_url

    def notify(self, old: LoadedJob | None, new: LoadedJob) -> Notified:
        """Publish the event of this write and queue its webhooks. Raises ``EventBusUnavailable`` or
        ``QueueUnavailable``: the caller retries the write's record (the event id is stable)."""
        event = state_change_event(old, new, progress_step=self._progress_step)
        if event is None:
            return Notified(None)
        owner = new.job.owner
        # Before publishing: a lookup that fails retries the record, never publishes twice.
        owners_url = self._owner_url(owner) if owner else None
        self._bus.publish(SOURCE, DETAIL_TYPE, event)
        signer: dict[str, Any] = {"owner": owner} if owners_url else {}  # its secrets, else the stack's
        deliveries: list[dict[str, Any]] = [{"url": url, "event": event} for url in self._webhook_urls]
        if owners_url:  # "webhook": sent only while it is still the owner's URL
            deliveries.append({"url": owners_url, "event": event, "owner": owner, "webhook": True})
        if new.job.callbackUrl:
            deliveries.append({"url": new.job.callbackUrl, "event": event, **signer})
        if deliveries:
            self._deliveries.send_batch([json.dumps(delivery) for delivery in deliveries])
        return Notified(event, len(deliveries))
