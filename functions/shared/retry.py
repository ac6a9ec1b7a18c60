"""Optimistic writes, retried: a conditional write that lost to a concurrent one is re-read,
re-applied and written again, after a pause that grows and is jittered so that the writers that
collided do not collide again (AWS's "full jitter")."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OptimisticRetry:
    attempts: int
    base_seconds: float = 0.01
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)  # in [0, 1)

    def __iter__(self) -> Iterator[int]:
        """The attempt numbers, 0 first; before each retry, a pause of up to base * 2**attempt."""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.jitter() * self.base_seconds * 2**attempt)
            yield attempt
