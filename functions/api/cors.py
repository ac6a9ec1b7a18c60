"""CORS, for browser apps: the origins a stack allows (none by default, then no grant at all).
API Gateway answers the preflight itself, without auth (infra.api); every answer the function
gives, errors included, grants an allowed ``Origin`` the right to read it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What a browser app may send: SigV4's headers or a bearer token, and the API's own.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Amz-Content-Sha256",
    "X-Amz-Date",
    "X-Amz-Security-Token",
)
# What it may read beyond the CORS-safelisted response headers.
EXPOSED_HEADERS = ("Allow", "Idempotent-Replayed", "Location", "Retry-After")
ALLOWED_METHODS = ("DELETE", "GET", "OPTIONS", "POST", "PUT")
DEFAULT_MAX_AGE_SECONDS = 600
# An origin as browsers send it: https, or http on this machine only (an app in development).
ORIGIN = r"^(https://[a-z0-9.-]+|http://(localhost|127\.0\.0\.1))(:[0-9]{1,5})?$"


def grant(origins: frozenset[str], request_headers: Mapping[str, Any] | None) -> dict[str, str]:
    """The response headers for a request from ``Origin``: the grant if it is allowed, and
    ``Vary: Origin`` whenever some origin is (a cache must not hand one origin's grant to another)."""
    if not origins:
        return {}
    origin = next((str(v) for k, v in (request_headers or {}).items() if k.lower() == "origin"), None)
    if origin not in origins:
        return {"Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": ",".join(EXPOSED_HEADERS),
        "Vary": "Origin",
    }


def add_grant(
    response: dict[str, Any], origins: frozenset[str], request_headers: Mapping[str, Any] | None
) -> None:
    """Adds the grant to a proxy integration response (``headers`` or Powertools' ``multiValueHeaders``)."""
    headers = grant(origins, request_headers)
    if not headers:
        return
    if "multiValueHeaders" in response:
        response["multiValueHeaders"].update({name: [value] for name, value in headers.items()})
    else:
        response.setdefault("headers", {}).update(headers)
