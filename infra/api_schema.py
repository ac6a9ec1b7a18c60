"""API Gateway request models from the API's pydantic models.

API Gateway validates bodies against JSON Schema draft 4; pydantic writes draft 2020-12. The
conversion keeps what draft 4 can say (types, enums, patterns, bounds, required, oneOf/anyOf/allOf/not,
additionalProperties) and rewrites the rest: ``$defs`` to ``definitions``, ``const`` to a one-value
``enum``, numeric ``exclusiveMinimum``/``exclusiveMaximum`` to draft 4's boolean form."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

DRAFT4 = "http://json-schema.org/draft-04/schema#"
# Keywords draft 4 does not know and API Gateway would reject or ignore.
_DROPPED = frozenset({"examples", "default", "title", "$comment", "readOnly", "writeOnly", "discriminator"})


def draft4_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    converted = _convert(schema)
    if definitions:
        converted["definitions"] = {name: _convert(value) for name, value in definitions.items()}
    return {"$schema": DRAFT4, **converted}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key in ("properties", "definitions", "patternProperties"):
            out[key] = {name: _convert(item) for name, item in value.items()}
        else:
            out[key] = _convert(value)
    return out
