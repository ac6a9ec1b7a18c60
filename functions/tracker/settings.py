"""The tracker's settings, read once at cold start."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, Json

from functions import env
from functions.shared.settings import JobsTableSettings, load_settings


class TrackerSettings(JobsTableSettings):
    # The queue it consumes, to bring a message that failed for a passing reason back after a short
    # backoff; without it, the queue's visibility timeout does (minutes later).
    output_queue_url: str | None = Field(default=None, pattern=r"^https?://")
    sqs_endpoint: str | None = None
    owner_client_names: Json[dict[str, str]] = Field(default_factory=dict)  # owner -> client name

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TrackerSettings:
        values = {
            **cls.values(environ),
            "output_queue_url": environ.get(env.OUTPUT_QUEUE_URL) or None,
            "sqs_endpoint": environ.get(env.SQS_ENDPOINT) or None,
            "owner_client_names": environ.get(env.OWNER_CLIENT_NAMES) or "{}",
        }
        return load_settings(cls, values)
