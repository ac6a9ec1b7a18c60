"""What S3 checks that moto does not, at moto's edge (WSGI middleware, as local.faults):

* A browser's POST form (presigned POST): the policy's signature (SigV4, by a known key), its
  expiration, and every condition: ``bucket``, ``key``, ``Content-Type`` and the ``x-amz-*``
  fields (exact or ``starts-with``), ``content-length-range``, and no form field the policy does
  not name (``x-ignore-*`` aside), none given twice. Not like S3: fields after the file are
  checked too (S3 ignores them). Refused as S3 refuses: 403 ``AccessDenied`` "Invalid according
  to Policy: ...", 400 ``EntityTooLarge`` / ``EntityTooSmall``, 403 ``SignatureDoesNotMatch``.
* A presigned URL (``X-Amz-Expires``): refused once expired (403 ``AccessDenied``, "Request has
  expired"), or if its signature does not match.

``advance`` moves this edge's clock on, so that a test sees a link expire without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.formparser import parse_form_data

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
# Form fields a policy need not name (S3's rule: the policy itself, its signature, the file).
_UNCONDITIONED = frozenset({"policy", "x-amz-signature", "file"})


class _Refusal(Exception):
    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class S3Checks:
    def __init__(
        self, app: WsgiApp, secrets: Mapping[str, str], clock: Callable[[], float] = time.time
    ) -> None:
        """``secrets``: access key -> secret key, of the principals S3 knows."""
        self._app = app
        self._secrets = dict(secrets)
        self._clock = clock
        self._skew = 0.0

    def advance(self, seconds: float) -> None:
        self._skew += seconds

    def now(self) -> float:
        return self._clock() + self._skew

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            if self._is_form_upload(environ):
                self._check_form(environ)
            elif "X-Amz-Expires=" in environ.get("QUERY_STRING", ""):
                self._check_presigned_url(environ)
        except _Refusal as refused:
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{refused.code}</Code>"
                f"<Message>{escape(refused.message)}</Message></Error>"
            ).encode()
            start_response(refused.status, [("Content-Type", "application/xml")])
            return [body]
        return self._app(environ, start_response)

    # ------------------------------------------------------------------ POST forms

    @staticmethod
    def _is_form_upload(environ: dict[str, Any]) -> bool:
        path = environ.get("PATH_INFO", "").strip("/")
        return (
            environ["REQUEST_METHOD"] == "POST"
            and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")
            and path != ""
            and "/" not in path
        )

    def _check_form(self, environ: dict[str, Any]) -> None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise _Refusal("400 Bad Request", "InvalidArgument", "Content-Length is not a number") from None
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)  # moto reads it again
        _, form, files = parse_form_data({**environ, "wsgi.input": io.BytesIO(raw)})
        names = [name.lower() for name, _ in form.items(multi=True)]
        if len(names) != len(set(names)):  # moto would store one spelling, the check read another
            raise _Refusal("400 Bad Request", "InvalidArgument", "a form field is given more than once")
        fields = {name.lower(): value for name, value in form.items()}
        upload = files.get("file")
        if upload is None:
            raise _Refusal(
                "400 Bad Request", "InvalidArgument", "POST requires exactly one file upload per request."
            )
        size = len(upload.read())
        policy_text = fields.get("policy")
        if policy_text is None:
            raise _Refusal(
                "403 Forbidden", "AccessDenied", "Bucket POST must contain a field named 'policy'."
            )
        self._check_form_signature(fields, policy_text)
        try:
            policy = json.loads(base64.b64decode(policy_text, validate=True))
            expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
            conditions = list(policy["conditions"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _Refusal(
                "400 Bad Request", "InvalidPolicyDocument", "Invalid Policy: not a policy"
            ) from exc
        if expiration < self.now():
            raise _Refusal("403 Forbidden", "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = {**fields, "bucket": environ["PATH_INFO"].strip("/")}
        named = {"bucket"}
        for condition in conditions:
            named |= self._check_condition(condition, values, size)
        extra = sorted(f for f in set(fields) - named - _UNCONDITIONED if not f.startswith("x-ignore-"))
        if extra:
            raise _Refusal(
                "403 Forbidden",
                "AccessDenied",
                f"Invalid according to Policy: Extra input fields: {', '.join(extra)}",
            )

    def _check_form_signature(self, fields: dict[str, str], policy_text: str) -> None:
        credential = fields.get("x-amz-credential", "").split("/")
        if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or len(credential) != 5:
            raise _Refusal("400 Bad Request", "InvalidRequest", "Only AWS4-HMAC-SHA256 forms are accepted.")
        access_key, date, region, service, _ = credential
        secret = self._secrets.get(access_key)
        if secret is None:
            raise _Refusal(
                "403 Forbidden", "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."
            )
        expected = hmac.new(
            _signing_key(secret, date, region, service), policy_text.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
            raise _Refusal(
                "403 Forbidden",
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    @staticmethod
    def _check_condition(condition: Any, values: dict[str, str], size: int) -> set[str]:
        """Raises unless the form meets ``condition``; the form fields it names."""
        failed = _Refusal(
            "403 Forbidden",
            "AccessDenied",
            f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
        )
        if isinstance(condition, dict):
            ((name, wanted),) = condition.items()
            if values.get(name.lower()) != wanted:
                raise failed
            return {name.lower()}
        operation, *operands = condition
        if operation == "content-length-range":
            low, high = (int(v) for v in operands)
            if size > high:
                raise _Refusal(
                    "400 Bad Request",
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                )
            if size < low:
                raise _Refusal(
                    "400 Bad Request",
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                )
            return set()
        if operation not in ("eq", "starts-with") or len(operands) != 2:
            raise _Refusal(
                "400 Bad Request", "InvalidPolicyDocument", f"Invalid Policy: {json.dumps(condition)}"
            )
        field, wanted = str(operands[0]).removeprefix("$").lower(), str(operands[1])
        value = values.get(field)
        if value is None or not (value == wanted if operation == "eq" else value.startswith(wanted)):
            raise failed
        return {field}

    # ------------------------------------------------------------------ presigned URLs

    def _check_presigned_url(self, environ: dict[str, Any]) -> None:
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(query["X-Amz-Expires"])
            access_key, _, region, _, _ = query["X-Amz-Credential"].split("/")
        except (KeyError, ValueError) as exc:
            raise _Refusal("400 Bad Request", "AuthorizationQueryParametersError", "malformed") from exc
        if signed_at.timestamp() + expires < self.now():
            raise _Refusal("403 Forbidden", "AccessDenied", "Request has expired")
        secret = self._secrets.get(access_key)
        if secret is None:
            raise _Refusal(
                "403 Forbidden", "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."
            )
        # The signature, recomputed over the request as sent (botocore's own canonical form).
        pairs = parse_qsl(environ["QUERY_STRING"], keep_blank_values=True)
        unsigned = urlencode([(k, v) for k, v in pairs if k != "X-Amz-Signature"])
        host = environ.get("HTTP_HOST", "")
        path = environ.get("RAW_URI", "").split("?", 1)[0] or environ["PATH_INFO"]
        request = AWSRequest(method=environ["REQUEST_METHOD"], url=f"http://{host}{path}?{unsigned}")
        request.headers["host"] = host
        request.context["timestamp"] = query["X-Amz-Date"]
        signer = S3SigV4QueryAuth(Credentials(access_key, secret), "s3", region, expires=expires)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            raise _Refusal(
                "403 Forbidden",
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
