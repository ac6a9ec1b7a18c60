"""Schemathesis against the API's own OpenAPI schema, driving the real handler in process (through
the API Gateway proxy emulation) with the in-memory store and queue: every check, zero 5xx."""

from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bench.hostile import API_CONFIG
from functions.api import handler as api
from functions.api.openapi import openapi_schema
from functions.api.service import JobService
from functions.jobs.rules import DEFAULT_RULE
from functions.messaging.memory import MemoryQueue
from functions.store.memory import MemoryJobStore
from local.apigateway import WsgiAdapter
from tests.schemas import for_generation

# Stack options that refuse schema-valid requests (custom commands) are on, workflows other than the
# stack's are not generated, and every name resolves to a public address: those refusals depend on
# the stack and on DNS, not on the schema, and test_api.py tests them.
CONFIG = replace(API_CONFIG, allow_custom_cmd=True)


def _no_dns(host: str) -> list[str]:
    return ["93.184.216.34"]  # any name is public here (no DNS in unit tests)


@pytest.fixture(scope="module", autouse=True)
def in_memory_service() -> object:
    service = JobService(MemoryJobStore(), MemoryQueue(), CONFIG, DEFAULT_RULE, resolve=_no_dns)
    api.app.dependency_overrides[api.get_service] = lambda: service
    yield service
    api.app.dependency_overrides.clear()


app = WsgiAdapter(api.handler)
schema = schemathesis.openapi.from_dict(
    for_generation(openapi_schema(api.app), refused_by_configuration=("workflow",))
)
schema.app = app  # every request (checks' probes too) goes to the handler in process


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_response_matches_the_schema_and_none_is_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate()
