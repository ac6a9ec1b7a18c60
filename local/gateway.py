"""API Gateway (REST, proxy integration) emulated on localhost, from the synthesized template:
the routes are the template's resources and methods, every method checks SigV4 (IAM auth) or runs
the TOKEN authorizer function (auth mode jwt) as API Gateway does, and a request becomes the proxy
event the real handler gets on AWS. Errors API Gateway answers itself come in the stack's
gateway-response shape, with its headers (CORS); a mock integration (the CORS preflight) is
answered from the template."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.apigateway import Handler, _reason, proxy_event, request_headers, request_parts, response_parts
from local.event_source import LambdaContext

MAX_SKEW = timedelta(minutes=15)  # API Gateway refuses requests signed further from now
SIGNATURE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


# The request template CDK gives a CORS preflight with several origins: the caller's origin is
# echoed when it is one of them (API Gateway's VTL, which is not emulated beyond this form).
_ECHOED_ORIGIN = re.compile(r'#if\(\$origin == "([^"]+)"\)')


@dataclass(frozen=True)
class MockAnswer:
    """A mock integration's answer (the CORS preflight): its status and static headers, and the
    origins its template echoes instead of the static ``Access-Control-Allow-Origin``."""

    status: int
    headers: Mapping[str, str]
    echoed_origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, integration: Mapping[str, Any]) -> MockAnswer:
        (answer,) = integration["IntegrationResponses"]
        headers = {
            name.removeprefix("method.response.header."): value.strip("'")
            for name, value in answer.get("ResponseParameters", {}).items()
        }
        template = answer.get("ResponseTemplates", {}).get("application/json", "")
        return cls(int(answer["StatusCode"]), headers, frozenset(_ECHOED_ORIGIN.findall(template)))

    def answer(self, origin: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = dict(self.headers)
        if origin in self.echoed_origins:
            headers["Access-Control-Allow-Origin"] = origin
        return self.status, list(headers.items()), b""


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /jobs/{job_id}
    pattern: re.Pattern[str]
    authorization: str
    mock: MockAnswer | None = None  # a mock integration (answered here); None: the function


def routes_from_template(template: Mapping[str, Any]) -> list[Route]:
    """Every (method, resource path) the template's REST API declares."""
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::ApiGateway::Resource"}

    def path_of(reference: Any) -> str:
        if isinstance(reference, dict) and "Ref" in reference and reference["Ref"] in resources:
            props = resources[reference["Ref"]]["Properties"]
            return f"{path_of(props['ParentId']).rstrip('/')}/{props['PathPart']}"
        return "/"  # the API's root resource (Fn::GetAtt RootResourceId)

    routes = []
    for method in (v for v in template["Resources"].values() if v["Type"] == "AWS::ApiGateway::Method"):
        props = method["Properties"]
        path = path_of(props["ResourceId"])
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        integration = props.get("Integration", {})
        routes.append(
            Route(
                props["HttpMethod"],
                path,
                re.compile(f"^{regex}$"),
                props.get("AuthorizationType", "NONE"),
                MockAnswer.of(integration) if integration.get("Type") == "MOCK" else None,
            )
        )
    return routes


def gateway_headers(template: Mapping[str, Any]) -> dict[str, str]:
    """The headers the stack's gateway responses add to API Gateway's own errors (all the same
    here: those of DEFAULT_4XX), as ``name -> value or request mapping``."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if (
            resource["Type"] == "AWS::ApiGateway::GatewayResponse"
            and props.get("ResponseType") == "DEFAULT_4XX"
        ):
            return {
                name.removeprefix("gatewayresponse.header."): value
                for name, value in props.get("ResponseParameters", {}).items()
            }
    return {}


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers by their lower-case names (HTTP's are case-insensitive)."""
    return {name.lower(): value for name, value in headers.items()}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN match, with ``*`` for any run of characters (an authorizer's ``.../prod/*/*``)."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), arn) is not None


class _Refused(Exception):
    """API Gateway answers the request itself, in the stack's gateway-response shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def answer(self, extra_headers: Mapping[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        body = json.dumps({"code": self.code, "message": self.message, "details": None}).encode()
        return self.status, [("Content-Type", "application/json"), *extra_headers.items()], body


@dataclass(frozen=True)
class Principal:
    """An IAM principal the gateway knows: its access key and secret, and the ARN API Gateway
    passes the function as ``requestContext.identity.userArn`` (a role's session, or a user)."""

    access_key: str
    secret_key: str
    arn: str

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)


class Gateway:
    """A WSGI app: stage prefix, route match, SigV4 check, proxy event, the handler's answer."""

    def __init__(
        self,
        handler: Handler,
        routes: list[Route],
        *,
        stage: str,
        region: str,
        principals: Sequence[Principal],
        function_name: str = "api",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        error_headers: Mapping[str, str] | None = None,
        authorizer: Handler | None = None,
    ) -> None:
        """``error_headers``: what the stack's gateway responses add to API Gateway's own errors
        (:func:`gateway_headers`), a value ``method.request.header.X`` being the request's header."""
        self._handler = handler
        self._authorizer = authorizer  # the TOKEN authorizer of the CUSTOM methods (auth mode jwt)
        self._error_headers = dict(error_headers or {})
        self._routes = routes
        self._stage = stage
        self._region = region
        self._principals = {principal.access_key: principal for principal in principals}
        self._function_name = function_name
        self._clock = clock
        # One execution environment: Lambda gives it one request at a time, and handlers rely on
        # that (Powertools' resolver keeps the current event on the module's app object).
        self._environment = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            status, headers, body = self._answer(environ)
        except _Refused as refused:
            status, headers, body = refused.answer(self._mapped(self._error_headers, environ))
        start_response(f"{status} {_reason(status)}", headers)
        return [body]

    @staticmethod
    def _mapped(headers: Mapping[str, str], environ: dict[str, Any]) -> dict[str, str]:
        request = _lowered(request_headers(environ))
        mapped: dict[str, str] = {}
        for name, value in headers.items():
            if value.startswith("method.request.header."):
                if (sent := request.get(value.removeprefix("method.request.header.").lower())) is not None:
                    mapped[name] = sent
            else:
                mapped[name] = value.strip("'")
        return mapped

    def _answer(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        method = environ["REQUEST_METHOD"]
        # WSGI hands the decoded path over as latin-1; API Gateway decodes it as UTF-8.
        full_path = (environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8", "replace")
        prefix = f"/{self._stage}"
        if full_path != prefix and not full_path.startswith(prefix + "/"):
            raise _Refused(403, "NOT_FOUND_OR_UNAUTHENTICATED", "Missing Authentication Token")
        path = full_path[len(prefix) :] or "/"
        # API Gateway prefers a resource's own method to its ANY method.
        matching = [r for r in self._routes if r.pattern.match(path)]
        route = next((r for r in matching if r.method == method), None) or next(
            (r for r in matching if r.method == "ANY"), None
        )
        if route is None:
            raise _Refused(403, "NOT_FOUND_OR_UNAUTHENTICATED", "Missing Authentication Token")
        if route.mock is not None:
            return route.mock.answer(_lowered(request_headers(environ)).get("origin"))
        headers, raw = request_parts(environ)
        caller = self._check_signature(environ, headers, raw) if route.authorization == "AWS_IAM" else None
        authorized = self._authorize(method, path, headers) if route.authorization == "CUSTOM" else None
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        try:
            body: str | bytes | None = raw.decode() if raw else None
        except UnicodeDecodeError:
            body = raw
        # As API Gateway fills the identity in: the signer for IAM authorization, nobody otherwise.
        event = proxy_event(
            method,
            path,
            body=body,
            headers=headers,
            query=query,
            stage=self._stage,
            resource=route.template,
            principal=caller.arn if caller else None,
        )
        event["requestContext"]["identity"]["accessKey"] = caller.access_key if caller else None
        if authorized is not None:
            event["requestContext"]["authorizer"] = authorized
        with self._environment:
            answer = self._handler(event, LambdaContext(function_name=self._function_name))
        return response_parts(answer)

    def _authorize(self, method: str, path: str, headers: Mapping[str, str]) -> dict[str, Any]:
        """API Gateway's TOKEN authorizer: the Authorization header to the authorizer function,
        whose ``Unauthorized`` is a 401, any other failure a 500, a policy not allowing the method
        a 403; allowed, its context (and principalId) is ``requestContext.authorizer``. Answers are
        not cached here (API Gateway caches them per token)."""
        if self._authorizer is None:
            raise _Refused(500, "INTERNAL_ERROR", "no authorizer for a CUSTOM method")
        token = _lowered(headers).get("authorization", "")
        if not token:
            raise _Refused(401, "UNAUTHORIZED", "Unauthorized")
        method_arn = f"arn:aws:execute-api:{self._region}:123456789012:local/{self._stage}/{method}{path}"
        event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
        try:
            with self._environment:
                answer = self._authorizer(event, LambdaContext(function_name="authorizer"))
        except Exception as exc:  # noqa: BLE001 - as API Gateway reads an authorizer's failure
            if str(exc) == "Unauthorized":
                raise _Refused(401, "UNAUTHORIZED", "Unauthorized") from None
            raise _Refused(500, "INTERNAL_ERROR", "AuthorizerConfigurationException") from None
        statements = answer.get("policyDocument", {}).get("Statement", [])
        matching = {
            s.get("Effect")
            for s in statements
            if any(_arn_matches(str(r), method_arn) for r in _listed(s.get("Resource")))
            and any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in _listed(s.get("Action")))
        }
        if "Deny" in matching or "Allow" not in matching:  # an explicit Deny wins, as in IAM
            raise _Refused(403, "ACCESS_DENIED", "User is not authorized to access this resource")
        # API Gateway passes the context's values on as strings (numbers and booleans included).
        context = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in answer.get("context", {}).items()
        }
        return {**context, "principalId": answer.get("principalId")}

    def _check_signature(self, environ: dict[str, Any], headers: dict[str, str], raw: bytes) -> Principal:
        """API Gateway's IAM auth: a valid SigV4 signature by a known key, with a credential scope of
        this region, ``execute-api`` and the request's date, signed within 15 minutes of now, and
        signing the ``host`` header. The principal that signed (:class:`_Refused` otherwise)."""
        match = SIGNATURE.fullmatch(headers.get("Authorization", "").strip())
        if match is None:
            raise _Refused(403, "NOT_FOUND_OR_UNAUTHENTICATED", "Missing Authentication Token")
        principal = self._principals.get(match["key"])
        if principal is None or match["region"] != self._region or match["service"] != "execute-api":
            raise _Refused(403, "UNAUTHORIZED", "The security token included in the request is invalid.")
        signed = match["headers"].split(";")
        lowered = _lowered(headers)
        if "host" not in signed:
            raise _Refused(403, "UNAUTHORIZED", "'Host' must be a signed header.")
        try:
            signed_at = datetime.strptime(lowered.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise _Refused(
                403, "UNAUTHORIZED", "Authorization header requires existence of a valid X-Amz-Date."
            ) from None
        if signed_at.strftime("%Y%m%d") != match["date"]:
            raise _Refused(403, "UNAUTHORIZED", "Credential should be scoped to a valid date.")
        if abs((self._clock() - signed_at).total_seconds()) > MAX_SKEW.total_seconds():
            raise _Refused(
                403, "UNAUTHORIZED", "Signature expired: the request is dated over 15 minutes from now."
            )
        lowered["host"] = environ.get("HTTP_HOST", "")
        # WSGI keeps these two apart from the other headers; clients may sign them.
        lowered.setdefault("content-length", environ.get("CONTENT_LENGTH", ""))
        lowered.setdefault("content-type", environ.get("CONTENT_TYPE", ""))
        query = environ.get("QUERY_STRING", "")
        # The path as the client encoded it (the server's RAW_URI), else re-encoded from PATH_INFO.
        path = environ.get("RAW_URI", "").split("?", 1)[0] or quote(
            (environ.get("PATH_INFO") or "/").encode("latin-1"), safe="/-_.~!$&'()*+,;=:@"
        )
        url = f"http://{lowered['host']}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(
            method=environ["REQUEST_METHOD"],
            url=url,
            data=raw,
            headers={n: lowered.get(n, "") for n in signed},
        )
        request.context["timestamp"] = lowered.get("x-amz-date", "")
        signer = SigV4Auth(principal.credentials, "execute-api", self._region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if expected != match["signature"]:
            raise _Refused(
                403,
                "UNAUTHORIZED",
                "The request signature we calculated does not match the signature you provided.",
            )
        return principal
