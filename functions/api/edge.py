"""What the API answers before (or instead of) a route: paths with control characters, bodies over
the limit or not JSON, and methods a resource does not declare (405 with ``Allow``, from
functions.api.routes)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from functions.api.errors import (
    ApiError,
    InvalidJson,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
    UnsupportedMediaType,
)
from functions.api.routes import allowed_methods

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
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = str(headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if body and content_type not in ("", "application/json"):
        return UnsupportedMediaType("send application/json")
    return None


def method_not_allowed(method: str, path: str) -> MethodNotAllowed | None:
    """A 405 naming the declared methods, if ``path`` is a resource that does not declare
    ``method`` (None for a path no resource has, or a method it has but a value it refuses)."""
    allowed = allowed_methods(path)
    return MethodNotAllowed(allowed) if allowed and method.upper() not in allowed else None
