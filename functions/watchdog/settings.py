"""The watchdog's settings, read once at cold start."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from functions import env
from functions.jobs.rules import CompletionRule
from functions.shared.settings import completion_rule, load_settings
from functions.store.base import TableBinding


class WatchdogSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3)
    region: str | None = None
    dynamodb_endpoint: str | None = None
    rule: CompletionRule
    stalled_after_seconds: int = Field(ge=1)  # the stack's configuration asks for 20 minutes or more

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WatchdogSettings:
        return load_settings(
            cls,
            {
                "table_name": environ.get(env.JOBS_TABLE_NAME),
                "region": environ.get(env.AWS_REGION),
                "dynamodb_endpoint": environ.get(env.DYNAMODB_ENDPOINT) or None,
                "rule": completion_rule(environ),
                "stalled_after_seconds": environ.get(env.STALLED_AFTER_SECONDS),
            },
        )

    @property
    def table(self) -> TableBinding:
        return TableBinding(self.table_name, self.region, self.dynamodb_endpoint)
