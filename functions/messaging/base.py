"""The interfaces of queues and event buses, and their errors. No AWS imports here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from functions.jobs.errors import DependencyUnavailable


class QueueUnavailable(DependencyUnavailable):
    """The queue refused or failed a call (``throttled``: it asked us to slow down)."""


class EventBusUnavailable(DependencyUnavailable):
    """The event bus refused or failed to take an event."""


class MessageQueue(Protocol):
    def send(self, body: str) -> str:
        """Send one message body; returns the queue's message id. Raises ``QueueUnavailable``."""
        ...

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Send every body (in batches of ten), retrying the entries the queue failed; raises
        ``QueueUnavailable`` if any could not be sent."""
        ...

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for ``seconds`` more (0: make it visible now)."""
        ...


class EventBus(Protocol):
    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Publish one event; raises ``EventBusUnavailable`` if the bus did not take it."""
        ...
