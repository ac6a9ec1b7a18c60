"""What the notifier does with one write of a job: the "Job State Change" event (if the write
changed something a user cares about) published to the bus, and one delivery per webhook target
queued. No AWS here: the bus and the queue are passed in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions.messaging.base import EventBus, MessageQueue
from functions.notifier.changes import DETAIL_TYPE, SOURCE, state_change_event
from functions.store.base import LoadedJob


@dataclass(frozen=True)
class Notified:
    event: dict[str, Any] | None  # None: nothing a user cares about changed
    webhooks: int = 0


class StateChangeNotifier:
    def __init__(
        self, bus: EventBus, deliveries: MessageQueue, *, webhook_urls: Sequence[str], progress_step: int
    ) -> None:
        self._bus = bus
        self._deliveries = deliveries
        self._webhook_urls = tuple(webhook_urls)
        self._progress_step = progress_step

    def notify(self, old: LoadedJob | None, new: LoadedJob) -> Notified:
        """Publish the event of this write and queue its webhooks. Raises ``EventBusUnavailable`` or
        ``QueueUnavailable``: the caller retries the write's record (the event id is stable)."""
        event = state_change_event(old, new, progress_step=self._progress_step)
        if event is None:
            return Notified(None)
        self._bus.publish(SOURCE, DETAIL_TYPE, event)
        targets = [*self._webhook_urls, *([new.job.callbackUrl] if new.job.callbackUrl else [])]
        if targets:
            self._deliveries.send_batch([json.dumps({"url": url, "event": event}) for url in targets])
        return Notified(event, len(targets))
