"""The tracker's settings, read once at cold start."""

from __future__ import annotations

from collections.abc import Mapping

from functions.shared.settings import JobsTableSettings, load_settings


class TrackerSettings(JobsTableSettings):
    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TrackerSettings:
        return load_settings(cls, cls.values(environ))
