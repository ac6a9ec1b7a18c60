"""In-memory twins of the queues and the event bus, for unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from functions.messaging.base import EventBusUnavailable, QueueUnavailable


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.visibility: dict[str, int] = {}  # receipt handle -> the last visibility set
        self.failures: list[QueueUnavailable] = []  # raised, in order, by the next calls

    def send(self, body: str) -> str:
        self._fail_if_asked()
        self.sent.append(body)
        return f"message-{len(self.sent)}"

    def send_batch(self, bodies: Sequence[str]) -> None:
        self._fail_if_asked()
        self.sent.extend(bodies)

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        self._fail_if_asked()
        self.visibility[receipt_handle] = seconds

    def _fail_if_asked(self) -> None:
        if self.failures:
            raise self.failures.pop(0)


class MemoryEventBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []
        self.failures: list[EventBusUnavailable] = []

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.published.append((source, detail_type, dict(detail)))
