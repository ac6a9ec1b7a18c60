"""The API function's settings, read once at cold start."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, Json

from functions import env
from functions.api.cors import ORIGIN
from functions.api.media import (
    DEFAULT_FORM_SECONDS,
    DEFAULT_LINK_SECONDS,
    MAX_SIGNED_SECONDS,
    MAX_UPLOAD_BYTES,
    MediaAccess,
    MediaConfig,
)
from functions.api.service import ApiConfig, JobService
from functions.api.webhooks import WebhookService
from functions.jobs.owners import OwnerClaim, OwnerPolicy
from functions.shared.models import Model
from functions.shared.settings import JobsTableSettings, SettingsError, host_list, load_settings
from functions.shared.urls import UrlPolicy

DEFAULT_WORKFLOW = {
    "name": "Transcode",
    "version": "1.0",
    "taskList": "basic_transcode",
    "domain": "SADomain",
}


class CorsSettings(Model):
    """The origins browser apps may call the API from (functions.api.cors); apart from the other
    settings, as the grant is added to every answer, whatever the service."""

    origins: Json[frozenset[Annotated[str, Field(pattern=ORIGIN)]]] = Field(default_factory=frozenset)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CorsSettings:
        return load_settings(cls, {"origins": environ.get(env.CORS_ORIGINS) or "[]"})


class ApiSettings(JobsTableSettings):
    sqs_endpoint: str | None = None
    input_queue_url: str = Field(pattern=r"^https?://")
    output_queue_url: str = Field(pattern=r"^https?://")
    client_name: str = Field(min_length=3, max_length=64)
    workflow: dict[str, str]
    other_workflows: Json[list[dict[str, str]]] = Field(default_factory=list)
    trusted_url_hosts: frozenset[str] = frozenset()
    allow_custom_cmd: bool = False
    auth_mode: Literal["iam", "jwt", "cognito"] = "iam"
    owner_claim: OwnerClaim = "sub"
    owner_client_names: Json[dict[str, str]] = Field(default_factory=dict)
    operators: Json[list[str]] = Field(default_factory=list)
    media_bucket: str | None = None
    webhooks_table: str | None = None
    upload_max_bytes: int = Field(default=MAX_UPLOAD_BYTES, ge=1, le=MAX_UPLOAD_BYTES)
    upload_seconds: int = Field(default=DEFAULT_FORM_SECONDS, ge=60, le=MAX_SIGNED_SECONDS)
    output_link_seconds: int = Field(default=DEFAULT_LINK_SECONDS, ge=60, le=MAX_SIGNED_SECONDS)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ApiSettings:
        workflow = {
            key: environ.get(name) or DEFAULT_WORKFLOW[key]
            for key, name in (
                ("name", env.WORKFLOW_NAME),
                ("version", env.WORKFLOW_VERSION),
                ("taskList", env.WORKFLOW_TASK_LIST),
                ("domain", env.WORKFLOW_DOMAIN),
            )
        }
        values: dict[str, Any] = {
            **cls.values(environ),
            "sqs_endpoint": environ.get(env.SQS_ENDPOINT) or None,
            "input_queue_url": environ.get(env.INPUT_QUEUE_URL),
            "output_queue_url": environ.get(env.OUTPUT_QUEUE_URL),
            "client_name": environ.get(env.CLIENT_NAME),
            "workflow": workflow,
            "other_workflows": environ.get(env.OTHER_WORKFLOWS) or "[]",
            "trusted_url_hosts": host_list(environ.get(env.TRUSTED_URL_HOSTS, "")),
            "allow_custom_cmd": environ.get(env.ALLOW_CUSTOM_CMD, "false"),
            "auth_mode": environ.get(env.AUTH_MODE) or "iam",
            "owner_claim": environ.get(env.OWNER_CLAIM) or "sub",
            "owner_client_names": environ.get(env.OWNER_CLIENT_NAMES) or "{}",
            "operators": environ.get(env.OPERATORS) or "[]",
            "media_bucket": environ.get(env.MEDIA_BUCKET) or None,
            "webhooks_table": environ.get(env.WEBHOOKS_TABLE_NAME) or None,
            **{
                field: environ[name]
                for field, name in (
                    ("upload_max_bytes", env.UPLOAD_MAX_BYTES),
                    ("upload_seconds", env.UPLOAD_SECONDS),
                    ("output_link_seconds", env.OUTPUT_LINK_SECONDS),
                )
                if environ.get(name)
            },
        }
        return load_settings(cls, values)

    def service(self) -> JobService:
        """The job service on the stack's table and input queue (AWS clients built at first use)."""
        from functions.messaging.sqs import SqsQueue  # noqa: PLC0415 - AWS clients at first use
        from functions.shared import aws  # noqa: PLC0415
        from functions.store.dynamo import DynamoJobStore  # noqa: PLC0415

        queue = SqsQueue(
            lambda: aws.client("sqs", region=self.region, endpoint=self.sqs_endpoint), self.input_queue_url
        )
        return JobService(DynamoJobStore(self.table), queue, self.config, self.rule, media=self.media())

    def webhooks(self) -> WebhookService:
        """The owners' webhooks; without their table (a misconfiguration), every call says so."""
        from functions.webhooks.dynamo import webhook_registry  # noqa: PLC0415 - AWS at first use

        if self.webhooks_table is None:
            raise SettingsError(f"{env.WEBHOOKS_TABLE_NAME} is not set")
        registry = webhook_registry(self.webhooks_table, region=self.region, endpoint=self.dynamodb_endpoint)
        return WebhookService(registry, UrlPolicy(frozenset({"https"}), self.trusted_url_hosts))

    def media(self) -> MediaAccess | None:
        """The media bucket, presigned with the function's credentials; None without one."""
        if self.media_bucket is None:
            return None
        from functions.api.media_s3 import PRESIGNING, S3Presigner, S3Reader  # noqa: PLC0415 - at first use
        from functions.shared import aws  # noqa: PLC0415

        config = MediaConfig(
            self.media_bucket, self.upload_max_bytes, self.upload_seconds, self.output_link_seconds
        )
        client = functools.cache(lambda: aws.client("s3", region=self.region, config=PRESIGNING))
        return MediaAccess(config, S3Presigner(client), S3Reader(client))

    @property
    def config(self) -> ApiConfig:
        return ApiConfig(
            client_name=self.client_name,
            input_queue_url=self.input_queue_url,
            output_queue_url=self.output_queue_url,
            workflow=dict(self.workflow),
            other_workflows=tuple(dict(w) for w in self.other_workflows),
            trusted_url_hosts=self.trusted_url_hosts,
            allow_custom_cmd=self.allow_custom_cmd,
            owners=OwnerPolicy(
                self.auth_mode,
                self.client_name,
                claim=self.owner_claim,
                client_names=self.owner_client_names,
                operators=frozenset(self.operators),
            ),
        )
