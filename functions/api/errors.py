"""The API's errors, and the one place that maps every error to an HTTP status and body."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from functions.api.models import ErrorBody
from functions.jobs.errors import DomainError, JobTooLarge, StaleJob, StorageUnavailable
from functions.messaging.base import QueueUnavailable


class ApiError(DomainError):
    """An error the API answers with its own status and code."""

    status = HTTPStatus.BAD_REQUEST
    code = "BAD_REQUEST"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(ApiError):
    code = "INVALID_REQUEST"


class InvalidJson(ApiError):
    code = "INVALID_JSON"


class Forbidden(ApiError):
    status = HTTPStatus.FORBIDDEN
    code = "FORBIDDEN"


class NoIdentity(ApiError):
    """The request carries no identity to own jobs by: the API's authorization is misconfigured."""

    status = HTTPStatus.FORBIDDEN
    code = "NO_IDENTITY"


class JobNotFound(ApiError):
    status = HTTPStatus.NOT_FOUND
    code = "JOB_NOT_FOUND"


class WebhookNotFound(ApiError):
    status = HTTPStatus.NOT_FOUND
    code = "WEBHOOK_NOT_FOUND"


class UploadsDisabled(ApiError):
    """The stack has no media bucket of its own (its engine is a CPE stack of yours)."""

    status = HTTPStatus.NOT_FOUND
    code = "UPLOADS_DISABLED"


class PlaylistMissing(ApiError):
    """Not an HLS playlist this job wrote (or not written yet)."""

    status = HTTPStatus.NOT_FOUND
    code = "PLAYLIST_NOT_FOUND"


class PlaylistTooLarge(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "PLAYLIST_TOO_LARGE"


class RouteNotFound(ApiError):
    status = HTTPStatus.NOT_FOUND
    code = "NOT_FOUND"


class Conflict(ApiError):
    status = HTTPStatus.CONFLICT

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details)
        self.code = code


class PayloadTooLarge(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "UNSUPPORTED_MEDIA_TYPE"


class MethodNotAllowed(ApiError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "METHOD_NOT_ALLOWED"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"use {', '.join(allowed)}")
        self.allowed = allowed


class InProgress(Conflict):
    """The same request is being handled: retry after ``Retry-After`` seconds for its outcome."""

    def __init__(self, message: str) -> None:
        super().__init__("REQUEST_IN_PROGRESS", message)


# Answers a client should simply repeat, and after how many seconds (the Retry-After header).
RETRY_AFTER_SECONDS = 2
_RETRYABLE = frozenset({"REQUEST_IN_PROGRESS", "CONCURRENT_UPDATE"})


def error_body(error: Exception) -> tuple[HTTPStatus, ErrorBody, dict[str, str]]:
    """(status, body, extra headers) of the answer to ``error``."""
    status, code, message, details = to_http(error)
    headers = {"Allow": ", ".join(error.allowed)} if isinstance(error, MethodNotAllowed) else {}
    if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE) or code in _RETRYABLE:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return status, ErrorBody(code=code, message=message, details=details), headers


def to_http(error: Exception) -> tuple[HTTPStatus, str, str, Any]:
    """(status, code, message, details) for any error a route can end with."""
    if isinstance(error, ApiError):
        return error.status, error.code, error.message, error.details
    if isinstance(error, QueueUnavailable | StorageUnavailable):
        code, what = (
            ("QUEUE_UNAVAILABLE", "job queue")
            if isinstance(error, QueueUnavailable)
            else ("STORE_UNAVAILABLE", "job store")
        )
        if error.throttled:
            return (
                HTTPStatus.TOO_MANY_REQUESTS,
                "THROTTLED",
                f"the {what} is throttling requests; retry",
                None,
            )
        return HTTPStatus.SERVICE_UNAVAILABLE, code, f"the {what} is unavailable; retry", None
    if isinstance(error, StaleJob):
        return HTTPStatus.CONFLICT, "CONCURRENT_UPDATE", "the job kept changing; retry", None
    if isinstance(error, JobTooLarge):
        return HTTPStatus.UNPROCESSABLE_ENTITY, "JOB_TOO_LARGE", str(error), None
    return HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "an unexpected error occurred", None
