"""Schemathesis against the running local stack's API, over HTTP with SigV4 as a client calls it:
every check on every operation, zero 5xx. Accepted jobs really run (their sources are missing, so
the engine fails them: that is the stack's business, not the API's)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from functions.api import handler as api
from functions.api.openapi import openapi_schema
from local.embedded import FAKE_CREDENTIALS
from local.stack import LocalStack
from tests.schemas import beyond_the_schema, for_generation, operations


class SigV4(requests.auth.AuthBase):
    """Signs each request as an IAM-authorized API Gateway route expects (service execute-api)."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._credentials = Credentials(
            FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        SigV4Auth(self._credentials, "execute-api", self._region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


@pytest.fixture(scope="module")
def session(stack: LocalStack) -> requests.Session:
    signed = requests.Session()
    signed.auth = SigV4(stack.aws.region)
    return signed


# custom_cmd and workflows other than its own are refused by this stack's configuration (as by
# default); private URLs are allowed (the stack's webhook receiver is on localhost), so no generated
# URL waits for DNS.
schema = schemathesis.openapi.from_dict(
    for_generation(openapi_schema(api.app), refused_by_configuration=("custom_cmd", "workflow"))
)


# Every check, including the methods a route does not declare: they reach the handler through each
# resource's ANY method and get a 405 with Allow.
OPERATIONS = operations(schema)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_answer_of_the_running_api_matches_the_schema_and_none_is_a_server_error(
    label: str, stack: LocalStack, session: requests.Session
) -> None:
    @given(case=OPERATIONS[label].as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response: Any = case.call(base_url=stack.api_url.rstrip("/"), session=session)
        excluded = [positive_data_acceptance] if beyond_the_schema(response) else []
        case.validate_response(response, excluded_checks=excluded)
        assert response.status_code < 500

    check()
