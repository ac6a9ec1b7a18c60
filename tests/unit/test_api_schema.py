"""Schemathesis against the API's own OpenAPI schema, driving the real handler in process (through
the API Gateway proxy emulation) with the in-memory store and queue: every check, zero 5xx."""

from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import ignored_auth

from bench.hostile import API_CONFIG
from functions.api import handler as api
from functions.api.openapi import openapi_schema
from functions.api.service import JobService
from functions.jobs.rules import CompletionRule
from functions.messaging.memory import MemoryQueue
from functions.store.memory import MemoryJobStore
from local.apigateway import WsgiAdapter
from tests.schemas import beyond_the_schema, for_generation, operations

# Stack options that refuse schema-valid requests (custom commands) are on, workflows other than the
# stack's are not generated, and every name resolves to a public address: those refusals depend on
# the stack and on DNS, not on the schema, and test_api.py tests them.
CONFIG = replace(API_CONFIG, allow_custom_cmd=True)


def _no_dns(host: str) -> list[str]:
    return ["93.184.216.34"]  # any name is public here (no DNS in unit tests)


@pytest.fixture(scope="module", autouse=True)
def in_memory_service() -> object:
    service = JobService(MemoryJobStore(), MemoryQueue(), CONFIG, CompletionRule(), resolve=_no_dns)
    api.app.dependency_overrides[api.get_service] = lambda: service
    yield service
    api.app.dependency_overrides.clear()


app = WsgiAdapter(api.handler)
schema = schemathesis.openapi.from_dict(
    for_generation(openapi_schema(api.app), refused_by_configuration=("workflow",))
)
schema.app = app  # every request (checks' probes too) goes to the handler in process


OPERATIONS = operations(schema)
# The webhook routes need the owners' webhook table, which this in-process service has not: the e2e
# schema test covers them against the local stack. Authentication is API Gateway's (the e2e test
# checks it), not the handler's: a request without it reaches the handler here.
IN_PROCESS = sorted(label for label in OPERATIONS if "/webhook" not in label)


@pytest.mark.parametrize("label", IN_PROCESS)
def test_every_response_matches_the_schema_and_none_is_a_server_error(label: str) -> None:
    @given(case=OPERATIONS[label].as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        excluded = [ignored_auth, *([positive_data_acceptance] if beyond_the_schema(response) else [])]
        case.validate_response(response, excluded_checks=excluded)

    check()
