"""API Gateway's REST proxy integration, emulated: HTTP requests become the exact proxy events
API Gateway sends a Lambda, and the handler's answer becomes the HTTP response.

Used by the tests (schemathesis drives the handler through it as a WSGI app) and by the local stack.
What it does not do: authorize (IAM/JWT), validate against API Gateway models, or throttle."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from local.event_source import LambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# Who calls, unless told otherwise: the local stack's IAM user (API Gateway's IAM authorization
# passes the signer's ARN to the function; the API makes it the owner of the jobs it submits).
LOCAL_CALLER = "arn:aws:iam::123456789012:user/local"


def proxy_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
    stage: str = "prod",
    resource: str | None = None,
    source_ip: str = "127.0.0.1",
    principal: str | None = LOCAL_CALLER,
) -> dict[str, Any]:
    """A REST API (v1) proxy event, as API Gateway builds it; ``principal`` is the IAM principal
    that signed it (None: a request without IAM authorization)."""
    headers = dict(headers or {})
    is_binary = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    single_query = {name: values[-1] for name, values in (query or {}).items()} or None
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": dict(query) if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent"),
                "userArn": principal,
                "caller": principal,
            },
        },
        "body": text,
        "isBase64Encoded": is_binary,
    }


def response_parts(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a proxy integration response."""
    headers: list[tuple[str, str]] = [
        (name, str(value)) for name, value in (response.get("headers") or {}).items()
    ]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers += [(name, str(value)) for value in values]
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
    return int(response["statusCode"]), headers, raw


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The headers of a WSGI request, as API Gateway names them."""
    if "RAW_HEADERS" in environ:  # as sent (WSGI's names lose the difference between "-" and "_")
        return dict(environ["RAW_HEADERS"])
    headers = {
        name[5:].replace("_", "-").title(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return headers


def request_parts(environ: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The headers (as API Gateway names them) and the raw body of a WSGI request."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    return request_headers(environ), raw


class WsgiAdapter:
    """A WSGI app that calls a Lambda handler through the proxy integration."""

    def __init__(self, handler: Handler, *, stage: str = "prod", function_name: str = "api") -> None:
        self._handler = handler
        self._stage = stage
        self._function_name = function_name

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers, raw = request_parts(environ)
        try:
            body: str | bytes | None = raw.decode() if raw else None
        except UnicodeDecodeError:
            body = raw
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        event = proxy_event(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO") or "/",
            body=body,
            headers=headers,
            query=query,
            stage=self._stage,
        )
        status, response_headers, payload = response_parts(
            self._handler(event, LambdaContext(function_name=self._function_name))
        )
        start_response(f"{status} {_reason(status)}", response_headers)
        return [payload]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def call(
    handler: Handler,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    principal: str | None = LOCAL_CALLER,
) -> tuple[int, dict[str, str], Any]:
    """One JSON request through the proxy integration, signed by ``principal``: (status, headers,
    parsed body or None; a body not JSON as text). ``body`` may be a JSON value (serialized here) or
    the raw text to send."""
    text = body if body is None or isinstance(body, str) else json.dumps(body)
    event = proxy_event(
        method,
        path,
        body=text,
        headers={"Content-Type": "application/json", **(headers or {})},
        query={name: [value] for name, value in (query or {}).items()},
        principal=principal,
    )
    status, response_headers, raw = response_parts(handler(event, LambdaContext(function_name="api")))
    answered = dict(response_headers)
    if not raw:
        return status, answered, None
    is_json = answered.get("Content-Type", "application/json").startswith("application/json")
    return status, answered, json.loads(raw) if is_json else raw.decode()
