"""Reading a function's settings from its environment, once, with clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions import env
from functions.jobs.rules import CompletionRule
from functions.shared.models import Model
from functions.store.base import TableBinding

_S = TypeVar("_S", bound=BaseModel)


class SettingsError(RuntimeError):
    """The function is misconfigured: it refuses to start rather than run on a silent default."""


def load_settings(model: type[_S], values: Mapping[str, object]) -> _S:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid {model.__name__}: {problems}") from exc


def host_list(value: str) -> frozenset[str]:
    """A comma-separated list of ``host:port`` (``TRUSTED_URL_HOSTS``)."""
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def completion_environment(rule: CompletionRule) -> dict[str, str]:
    """``rule`` as the environment variables :func:`completion_rule` reads (for the stack)."""
    return {
        env.COMPLETION_MODE: rule.mode.value,
        env.FINAL_ACTIVITY_TYPES: ",".join(sorted(rule.final_activity_types)),
        env.FINAL_ACTIVITY_COUNT: str(rule.final_activity_count or "outputs"),
    }


def completion_rule(environ: Mapping[str, str]) -> CompletionRule:
    """The completion rule from ``COMPLETION_MODE``, ``FINAL_ACTIVITY_TYPES`` (comma separated) and
    ``FINAL_ACTIVITY_COUNT`` (a number, or ``outputs`` for one per output of the job)."""
    values: dict[str, object] = {}
    if environ.get(env.COMPLETION_MODE):
        values["mode"] = environ[env.COMPLETION_MODE]
    if environ.get(env.FINAL_ACTIVITY_TYPES):
        values["final_activity_types"] = frozenset(
            name.strip() for name in environ[env.FINAL_ACTIVITY_TYPES].split(",") if name.strip()
        )
    count = environ.get(env.FINAL_ACTIVITY_COUNT, "outputs")
    if count != "outputs":
        values["final_activity_count"] = count
    return load_settings(CompletionRule, values)


class JobsTableSettings(Model):
    """Where the jobs table is and how a job's view is derived: what the functions that write jobs
    from their facts (the tracker, the watchdog) and the API read first."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3)
    region: str | None = None
    dynamodb_endpoint: str | None = None
    rule: CompletionRule

    @staticmethod
    def values(environ: Mapping[str, str]) -> dict[str, object]:
        """These settings' values from the environment, for a subclass to add its own to."""
        return {
            "table_name": environ.get(env.JOBS_TABLE_NAME),
            "region": environ.get(env.AWS_REGION),
            "dynamodb_endpoint": environ.get(env.DYNAMODB_ENDPOINT) or None,
            "rule": completion_rule(environ),
        }

    @property
    def table(self) -> TableBinding:
        return TableBinding(self.table_name, self.region, self.dynamodb_endpoint)
