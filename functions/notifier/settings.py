"""The notifier's and the webhook delivery's settings, read once at cold start."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, Field

from functions import env
from functions.shared.models import Model
from functions.shared.settings import host_list, load_settings


class NotifierSettings(Model):
    model_config = ConfigDict(frozen=True)

    event_bus: str = Field(min_length=1, description="the bus's name or ARN")
    webhook_queue_url: str = Field(pattern=r"^https?://")
    webhook_urls: tuple[str, ...] = ()  # endpoints that get every job's events
    progress_step: int = Field(ge=1, le=100)
    webhooks_table: str = Field(min_length=1)
    region: str | None = None
    dynamodb_endpoint: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> NotifierSettings:
        urls = environ.get(env.WEBHOOK_URLS, "")
        return load_settings(
            cls,
            {
                "event_bus": environ.get(env.EVENT_BUS_NAME),
                "webhook_queue_url": environ.get(env.WEBHOOK_QUEUE_URL),
                "webhook_urls": tuple(url.strip() for url in urls.split(",") if url.strip()),
                "progress_step": environ.get(env.PROGRESS_STEP),
                "webhooks_table": environ.get(env.WEBHOOKS_TABLE_NAME),
                "region": environ.get(env.AWS_REGION),
                "dynamodb_endpoint": environ.get(env.DYNAMODB_ENDPOINT) or None,
            },
        )


class DeliverySettings(Model):
    model_config = ConfigDict(frozen=True)

    webhook_queue_url: str = Field(pattern=r"^https?://")
    webhook_secret_arn: str = Field(min_length=1)
    trusted_url_hosts: frozenset[str] = frozenset()  # the local stack only: its receiver
    webhooks_table: str = Field(min_length=1)
    region: str | None = None
    dynamodb_endpoint: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DeliverySettings:
        return load_settings(
            cls,
            {
                "webhook_queue_url": environ.get(env.WEBHOOK_QUEUE_URL),
                "webhook_secret_arn": environ.get(env.WEBHOOK_SECRET_ARN),
                "trusted_url_hosts": host_list(environ.get(env.TRUSTED_URL_HOSTS, "")),
                "webhooks_table": environ.get(env.WEBHOOKS_TABLE_NAME),
                "region": environ.get(env.AWS_REGION),
                "dynamodb_endpoint": environ.get(env.DYNAMODB_ENDPOINT) or None,
            },
        )
