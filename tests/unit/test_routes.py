"""The routes are declared once (functions.api.routes): the handler registers exactly them, with the
query parameters and headers they declare, and API Gateway (infra.api) is built from them."""

from __future__ import annotations

from functions.api import handler as api
from functions.api import routes
from functions.api.openapi import openapi_schema


def _operations() -> dict[tuple[str, str], dict[str, set[str]]]:
    schema = openapi_schema(api.app)
    found = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            kinds: dict[str, set[str]] = {"query": set(), "header": set(), "path": set()}
            for parameter in operation.get("parameters", []):
                kinds[parameter["in"]].add(parameter["name"].lower())
            kinds["body"] = {"json"} if "requestBody" in operation else set()
            found[(method.upper(), path)] = kinds
    return found


def test_the_handler_serves_exactly_the_declared_routes_with_their_parameters():
    declared = {
        (route.method, route.path): {
            "query": {name.lower() for name in route.query},
            "header": {name.lower() for name in route.headers},
            "path": set(route.path_parameters),
            "body": {"json"} if route.body else set(),
        }
        for route in routes.ROUTES
        if route is not routes.OPENAPI  # served, but not part of the schema it serves
    }
    assert _operations() == declared


def test_allowed_methods_follow_the_declared_routes():
    assert routes.allowed_methods("/jobs") == ["GET", "POST"]
    assert routes.allowed_methods("/jobs/abc") == ["GET"]
    assert routes.allowed_methods("/jobs/abc/cancel") == ["POST"]
    assert routes.allowed_methods("/jobs/abc/def") == []
    assert routes.resource_paths()[0] == "/jobs"
