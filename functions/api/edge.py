"""What the API answers before (or instead of) a route: paths with control characters, query
parameters the route does not take, bodies over the limit or not JSON, and methods a resource does
not declare (405 with ``Allow``, from functions.api.routes)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from functions.api.errors import (
    ApiError,
    InvalidJson,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
    UnsupportedMediaType,
)
from functions.api.routes import ROUTES, allowed_methods

MAX_BODY_BYTES = 64 * 1024
# Powertools matches routes with "^.../*$", and "$" also matches before a final newline: without this,
# GET /jobs/%0A would list the jobs and GET /jobs/j1%0A would answer job j1.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def refused_before_routing(event: dict[str, Any]) -> ApiError | None:
    """What API Gateway would let through but the routes must never see: a path with a control
    character (no route has one), bodies over the limit, and bodies that are not JSON (Powertools
    would try forms and multipart)."""
    if _CONTROL_CHARACTER.search(str(event.get("path") or "")):
        return RouteNotFound("no such route")
    body = event.get("body") or ""
    if len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES:
        return PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
    if body and event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return InvalidJson("the body is not UTF-8 JSON")
    unknown = _unknown_query_parameters(event)
    if unknown:
        return unknown
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = str(headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if body and content_type not in ("", "application/json"):
        return UnsupportedMediaType("send application/json")
    return None


def _unknown_query_parameters(event: dict[str, Any]) -> InvalidRequest | None:
    """A query parameter the route does not take is refused, not ignored: a misspelt filter
    (``createdafter``) would otherwise answer every job as if it had been applied."""
    method = str(event.get("httpMethod") or "").upper()
    # API Gateway names the resource it matched (/jobs/{job_id}); the path may carry a trailing
    # slash or a custom domain's base path.
    resource = str(event.get("resource") or "")
    route = next((r for r in ROUTES if r.method == method and r.path == resource), None)
    if route is None:
        path = str(event.get("path") or "").rstrip("/") or "/"
        route = next((r for r in ROUTES if r.method == method and r.matches(path)), None)
    sent = set(event.get("multiValueQueryStringParameters") or event.get("queryStringParameters") or {})
    unknown = sorted(sent - set(route.query)) if route else []
    if not unknown:
        return None
    takes = ", ".join(route.query) if route and route.query else "none"
    return InvalidRequest(
        f"unknown query parameter: {', '.join(unknown)} (this route takes {takes})",
        [
            {"loc": ["query", name], "msg": f"unknown: this route takes {takes}", "type": "unknown_parameter"}
            for name in unknown
        ],
    )


def method_not_allowed(method: str, path: str) -> MethodNotAllowed | None:
    """A 405 naming the declared methods, if ``path`` is a resource that does not declare
    ``method`` (None for a path no resource has, or a method it has but a value it refuses)."""
    allowed = allowed_methods(path)
    return MethodNotAllowed(allowed) if allowed and method.upper() not in allowed else None
