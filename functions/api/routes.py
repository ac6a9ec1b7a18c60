"""The job API's routes, declared once: the handler registers them (functions.api.handler), infra
builds API Gateway's resources, methods and request parameters from them (infra.api), and the 405
answer lists the methods they declare. Plain values: no runtime objects."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway's form: /jobs/{job_id}
    query: tuple[str, ...] = ()  # the query string parameters it takes (all optional)
    headers: tuple[str, ...] = ()  # the request headers it reads (all optional)
    body: str | None = None  # the model (of functions.api.models) of its JSON body, if it takes one

    @property
    def rule(self) -> str:
        """Powertools' form of the path: /jobs/<job_id>."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    def matches(self, path: str) -> bool:
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path))
        return re.fullmatch(pattern, path) is not None


SUBMIT_JOB = Route("POST", "/jobs", headers=("Idempotency-Key",), body="SubmitJobRequest")
LIST_JOBS = Route(
    "GET", "/jobs", query=("status", "owner", "createdAfter", "createdBefore", "limit", "nextToken")
)
GET_JOB = Route("GET", "/jobs/{job_id}", query=("include",))
JOB_EVENTS = Route("GET", "/jobs/{job_id}/events", query=("limit", "nextToken"))
CANCEL_JOB = Route("POST", "/jobs/{job_id}/cancel")
JOB_PLAYLIST = Route("GET", "/jobs/{job_id}/playlist", query=("key",))
CREATE_UPLOAD = Route("POST", "/uploads", body="UploadRequest")
GET_WEBHOOK = Route("GET", "/webhook")
SET_WEBHOOK = Route("PUT", "/webhook", body="WebhookRequest")
DELETE_WEBHOOK = Route("DELETE", "/webhook")
ROTATE_WEBHOOK_SECRET = Route("POST", "/webhook/rotate")
OPENAPI = Route("GET", "/openapi.json")

ROUTES = (
    SUBMIT_JOB,
    LIST_JOBS,
    GET_JOB,
    JOB_EVENTS,
    CANCEL_JOB,
    JOB_PLAYLIST,
    CREATE_UPLOAD,
    GET_WEBHOOK,
    SET_WEBHOOK,
    DELETE_WEBHOOK,
    ROTATE_WEBHOOK_SECRET,
    OPENAPI,
)


def allowed_methods(path: str) -> list[str]:
    """The methods the routes declare for ``path`` (empty: no such resource)."""
    return sorted({route.method for route in ROUTES if route.matches(path)})


def resource_paths() -> list[str]:
    """Every resource path, parents first."""
    return sorted({route.path for route in ROUTES}, key=lambda path: (path.count("/"), path))
