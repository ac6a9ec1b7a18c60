"""The in-memory twin of the SQS command queue, for unit tests."""

from __future__ import annotations

from functions.messaging.base import QueueUnavailable


class MemoryCommandQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failures: list[QueueUnavailable] = []  # raised, in order, by the next sends

    def send(self, body: str) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(body)
        return f"message-{len(self.sent)}"
