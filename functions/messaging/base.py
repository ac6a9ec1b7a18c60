"""The command queue's interface and its errors. No AWS imports here."""

from __future__ import annotations

from typing import Protocol

from functions.jobs.errors import DomainError


class QueueUnavailable(DomainError):
    """The input queue refused or failed the send. ``throttled``: it asked us to slow down."""

    def __init__(self, detail: str, *, throttled: bool = False) -> None:
        super().__init__(detail)
        self.throttled = throttled


class CommandQueue(Protocol):
    def send(self, body: str) -> str:
        """Send one message body; returns the queue's message id. Raises ``QueueUnavailable``."""
        ...
