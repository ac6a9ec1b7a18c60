"""The job API's client. Requests are signed with SigV4 for ``execute-api`` through botocore (the
credentials of the environment, as for any AWS SDK), or carry a bearer token in auth mode jwt."""

from __future__ import annotations

import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from cpe_client.uploads import UploadRefused, content_type_of, post_form, upload_name

__all__ = ["ApiError", "ClientError", "JobsClient", "UploadRefused", "endpoint_from_stack"]

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"})
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")
# Answers worth repeating the same request for: the API asks to retry (its Retry-After says when).
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
RETRIED_CODES = frozenset({"REQUEST_IN_PROGRESS", "CONCURRENT_UPDATE"})
MAX_ATTEMPTS = 5
MAX_PAUSE_SECONDS = 20.0


class ClientError(Exception):
    """A mistake or a failure before the API answered (no endpoint, no region, unreachable)."""


class ApiError(Exception):
    """An error answer of the API, in its one error shape."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after


class JobsClient:
    def __init__(
        self,
        endpoint: str,
        *,
        region: str | None = None,
        token: str | None = None,
        session: botocore.session.Session | None = None,
        timeout: float = 30.0,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(f"the endpoint must be an http(s) URL, not {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self._session = session or botocore.session.get_session()
        match = _REGION_IN_HOST.search(self.endpoint)
        self.region = (
            region
            or (match.group(1) if match else None)
            or os.environ.get("AWS_REGION")
            or self._session.get_config_variable("region")
        )
        if self.region is None and token is None:
            raise ClientError("no AWS region to sign requests for: pass --region or set AWS_REGION")
        self.token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._sleep = sleep

    # ------------------------------------------------------------------ the API

    def submit(self, job: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Submit ``job``. Every submit carries an ``Idempotency-Key`` (a new one if none is given),
        so the retries of this call never create a second job."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._json("POST", "/jobs", body=job, headers=headers)

    def upload(self, path: str | Path, *, content_type: str | None = None) -> dict[str, Any]:
        """Upload a local file to the stack's media bucket through a presigned form (``POST
        /uploads``); the answer's ``input_asset`` is what a job names as its input. Raises
        UploadRefused if S3 refuses the file (over the stack's size cap, say)."""
        file = Path(path)
        if not file.is_file():
            raise ClientError(f"no such file: {file}")
        content_type = content_type or content_type_of(file)
        if content_type is None:
            raise ClientError(f"cannot tell the content type of {file.name}: pass it")
        grant = self._json(
            "POST", "/uploads", body={"contentType": content_type, "filename": upload_name(file)}
        )
        if not isinstance(grant.get("url"), str) or not isinstance(grant.get("fields"), dict):
            raise ApiError(0, "UNEXPECTED_ANSWER", "POST /uploads answered no form (url, fields)")
        post_form(grant, file, content_type, timeout=max(self.timeout, 600.0))
        return grant

    def set_webhook(self, url: str) -> dict[str, Any]:
        """Send your jobs' events to ``url``; the first call's answer carries your signing secret
        (``secret``), shown that once."""
        return self._json("PUT", "/webhook", body={"url": url})

    def get_webhook(self) -> dict[str, Any]:
        return self._json("GET", "/webhook")

    def rotate_webhook_secret(self) -> dict[str, Any]:
        """A new signing secret (in ``secret``); the previous ones keep signing for a day."""
        return self._json("POST", "/webhook/rotate")

    def delete_webhook(self) -> None:
        self._call("DELETE", "/webhook")

    def get(self, job_id: str, *, include: str | None = None) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{urllib.parse.quote(job_id, safe='')}", query={"include": include})

    def list(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """A page of your jobs, newest first (an operator's: everyone's, or ``owner``'s); created
        times are RFC 3339."""
        query = {
            "status": status,
            "owner": owner,
            "createdAfter": created_after,
            "createdBefore": created_before,
            "limit": limit,
            "nextToken": next_token,
        }
        return self._json("GET", "/jobs", query=query)

    def events(
        self, job_id: str, *, limit: int | None = None, next_token: str | None = None
    ) -> dict[str, Any]:
        path = f"/jobs/{urllib.parse.quote(job_id, safe='')}/events"
        return self._json("GET", path, query={"limit": limit, "nextToken": next_token})

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{urllib.parse.quote(job_id, safe='')}/cancel")

    def watch(
        self,
        job_id: str,
        *,
        interval: float = 1.0,
        timeout: float | None = None,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the job until it ends (or ``timeout`` seconds pass); ``on_update`` sees each state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in TERMINAL or (deadline is not None and time.monotonic() > deadline):
                return job
            time.sleep(interval)

    # ------------------------------------------------------------------ transport

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The request, repeated (signed anew) while the API asks to retry, up to ``max_attempts``,
        waiting what its ``Retry-After`` says, else an exponential backoff with jitter."""
        attempt = 1
        while True:
            try:
                return self._once(method, path, body=body, query=query, headers=headers)
            except ApiError as error:
                retried = error.status in RETRIED_STATUSES or error.code in RETRIED_CODES
                if not retried or attempt >= self.max_attempts:
                    raise
                backoff = 0.5 * 2**attempt * (0.5 + random.random() / 2)  # noqa: S311 - jitter
                self._sleep(min(MAX_PAUSE_SECONDS, error.retry_after or backoff))
            attempt += 1

    def _once(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        pairs = [(k, str(v)) for k, v in (query or {}).items() if v is not None]
        url = self.endpoint + path + (f"?{urllib.parse.urlencode(pairs)}" if pairs else "")
        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(
            method=method, url=url, data=data, headers={"Accept": "application/json", **(headers or {})}
        )
        if data is not None:
            request.headers["Content-Type"] = "application/json"
        if self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        else:
            credentials = self._session.get_credentials()
            if credentials is None:
                raise ClientError("no AWS credentials to sign the request with (or pass --token)")
            SigV4Auth(credentials, "execute-api", str(self.region)).add_auth(request)
        prepared = request.prepare()
        outgoing = urllib.request.Request(prepared.url, data=prepared.body, method=method)  # noqa: S310
        for name, value in prepared.headers.items():
            outgoing.add_header(name, value)
        try:
            with urllib.request.urlopen(outgoing, timeout=self.timeout) as response:  # noqa: S310 (the API's URL)
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                document = json.loads(raw)
            except ValueError:
                document = {}
            if not isinstance(document, dict):
                document = {}
            retry_after = error.headers.get("Retry-After", "")
            raise ApiError(
                error.code,
                str(document.get("code") or "HTTP_ERROR"),
                str(document.get("message") or raw[:200].decode(errors="replace")),
                document.get("details"),
                retry_after=float(retry_after) if retry_after.isdigit() else None,
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ClientError(f"cannot reach {self.endpoint}: {reason}") from None
        return json.loads(raw) if raw else None

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self._call(method, path, **kwargs)
        if not isinstance(answer, dict):
            raise ApiError(
                0, "UNEXPECTED_ANSWER", f"{method} {path} answered {type(answer).__name__}, not an object"
            )
        return answer


def endpoint_from_stack(stack_name: str = "CpeServerless", *, session: Any = None) -> str | None:
    """The ``ApiUrl`` output of a deployed stack."""
    import boto3  # noqa: PLC0415 - only for this lookup

    client = (session or boto3).client("cloudformation")
    stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return outputs.get("ApiUrl")
