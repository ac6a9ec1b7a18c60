"""The API's OpenAPI schema: the error responses every route documents, and the schema as served
(``GET /openapi.json``) and published (docs/openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from functions.api.edge import MAX_BODY_BYTES
from functions.api.models import ErrorBody

TITLE = "CPE serverless job API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Submit, follow and cancel CPE/CT jobs; upload their inputs and download their outputs. Every "
    "route needs a signature (SigV4) or a JWT, as the stack's auth mode says, and acts for the "
    "caller: another owner's job does not exist for you. Browser apps: the origins the stack lists "
    "(cors.allowedOrigins) are granted CORS on every answer, errors included; the preflight (OPTIONS) "
    "is answered by API Gateway without credentials."
)
ERRORS: dict[int, OpenAPIResponse] = {
    code: {"description": description, "content": {"application/json": {"model": ErrorBody}}}
    for code, description in (
        (400, "Invalid request"),
        (403, "No identity to own jobs by, or another owner's list asked by a caller not an operator"),
        (404, "No such job (or no uploads on this stack)"),
        (409, "Conflict"),
        (413, f"Body over {MAX_BODY_BYTES} bytes"),
        (415, "Body is not application/json"),
        (429, "Throttled: retry later"),
        (503, "A dependency is unavailable: retry later"),
    )
}


def documented(status: int, model: type[BaseModel], description: str) -> dict[int, OpenAPIResponse]:
    """The responses of a route: its success, and the errors every route may answer."""
    success: OpenAPIResponse = {"description": description, "content": {"application/json": {"model": model}}}
    return {status: success, **ERRORS}


# How a caller authenticates: the stack's auth mode decides which (cpe.auth); either is documented.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "sigv4": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4 (service execute-api): auth mode iam, the default",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An OIDC issuer's or a Cognito user pool's JWT: auth modes jwt and cognito",
    },
}


def openapi_schema(app: APIGatewayRestResolver) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            openapi_version="3.1.0",
            security_schemes=_security_schemes(),
            security=[{"sigv4": []}, {"bearer": []}],
        )
    )
    # Powertools documents its default 422 for invalid requests; this API answers 400 instead.
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        operation.get("responses", {}).pop("422", None)
    # ... and its validation errors' models, which no answer of this API uses.
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema


def _security_schemes() -> dict[str, Any]:
    # Powertools' OpenAPI models cost a tenth of a second to import: only when the schema is made.
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBearer  # noqa: PLC0415

    return {
        "sigv4": APIKey.model_validate(SECURITY_SCHEMES["sigv4"]),
        "bearer": HTTPBearer.model_validate(SECURITY_SCHEMES["bearer"]),
    }
