"""The watchdog's settings, read once at cold start."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from functions import env
from functions.shared.settings import JobsTableSettings, load_settings


class WatchdogSettings(JobsTableSettings):
    stalled_after_seconds: int = Field(ge=1)  # the stack's configuration asks for 20 minutes or more

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WatchdogSettings:
        return load_settings(
            cls, {**cls.values(environ), "stalled_after_seconds": environ.get(env.STALLED_AFTER_SECONDS)}
        )
