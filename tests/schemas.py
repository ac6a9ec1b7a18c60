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
