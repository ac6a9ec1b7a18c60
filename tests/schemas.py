"""The API's OpenAPI document as schemathesis should generate requests from it."""

from __future__ import annotations

import copy
from typing import Any


def for_generation(
    document: dict[str, Any], *, refused_by_configuration: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A nextToken is opaque: a random string is not a request a client can make (forged and foreign
    tokens get a 400, tested in test_api.py), so generated requests leave it out; so is ``owner``,
    an operator's filter (another caller gets a 403, which depends on who calls, not on the schema).
    Properties the stack's configuration refuses (``custom_cmd`` unless enabled, a workflow it does
    not list) are left out too: their refusal depends on the stack, not on the schema, and
    test_api.py tests it."""
    document = copy.deepcopy(document)
    for operation in (op for path in document["paths"].values() for op in path.values()):
        operation["parameters"] = [
            p for p in operation.get("parameters", []) if p["name"] not in ("nextToken", "owner")
        ]
    for component in document.get("components", {}).get("schemas", {}).values():
        for name in refused_by_configuration:
            component.get("properties", {}).pop(name, None)
    return document


def operations(schema: Any) -> dict[str, Any]:
    """The schema's operations by label ("GET /jobs"), for one pytest item each. Schemathesis's own
    ``parametrize`` gives its items one node id, so pytest-xdist ran one operation of them and
    reported the others nowhere: a test per label runs them all, under xdist too."""
    return {
        operation.label: operation for operation in (result.ok() for result in schema.get_all_operations())
    }


def beyond_the_schema(response: Any) -> bool:
    """A refusal no JSON Schema can state, of a request valid by the schema: a URL refused at run
    time (its host does not resolve; http to a host the stack does not trust) or a rule across the
    whole body (two outputs writing one file). Every other check still applies to such answers;
    test_api.py, test_urls.py and test_payload.py test those refusals; any other 400 of schema-valid
    data fails the test."""
    if response.status_code != 400:
        return False
    details = response.json().get("details") or []
    return bool(details) and all(
        d.get("type") == "unsafe_url" or (d.get("type") == "value_error" and d.get("loc") == ["body"])
        for d in details
    )
