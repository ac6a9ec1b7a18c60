"""Lambda entry point of the job API (API Gateway REST API, proxy integration).

Thin: Powertools parses and validates requests against the models (which also make the OpenAPI
schema), the routes call :class:`~functions.api.service.JobService`, and every error leaves as
one JSON shape: ``{"code", "message", "details"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, BeforeValidator

from functions.api.errors import (
    ApiError,
    InvalidJson,
    PayloadTooLarge,
    RouteNotFound,
    UnsupportedMediaType,
    to_http,
)
from functions.api.models import ErrorBody, EventList, JobList, JobOut, SubmitJobRequest
from functions.api.service import JobService
from functions.api.settings import ApiSettings
from functions.api.views import event, job_detail, job_summary
from functions.jobs.errors import DomainError
from functions.jobs.model import JobStatus

MAX_BODY_BYTES = 64 * 1024
JOB_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"

logger = Logger()
metrics = Metrics()


def _strict_json(text: str) -> Any:
    """JSON bodies without NaN/Infinity (not JSON) and without pathological nesting."""

    def refuse(name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None


app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_strict_json)


@cache
def _service() -> JobService:
    from functions.messaging.sqs import SqsCommandQueue  # noqa: PLC0415 - AWS clients at first use
    from functions.store.dynamo import DynamoJobStore  # noqa: PLC0415

    settings = ApiSettings.from_environ(os.environ)
    queue = SqsCommandQueue(settings.input_queue_url, region=settings.region, endpoint=settings.sqs_endpoint)
    return JobService(DynamoJobStore(settings.table), queue, settings.config, settings.rule)


def get_service() -> JobService:
    return _service()


Service = Annotated[JobService, Depends(get_service)]
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    """Only RFC 3339 date-times with an offset (pydantic alone would take "0.5" as a timestamp)."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected an RFC 3339 date-time with a time zone, e.g. 2026-11-28T10:00:00Z")
    if match.group(1) == "60":  # a leap second: Python's datetime stops at :59
        value = value[: match.start(1)] + "59" + value[match.end(1) :]
    return value.upper()


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
JobIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The job's id")]
ERRORS: dict[int, OpenAPIResponse] = {
    code: {"description": description, "content": {"application/json": {"model": ErrorBody}}}
    for code, description in (
        (400, "Invalid request"),
        (404, "No such job"),
        (409, "Conflict"),
        (413, f"Body over {MAX_BODY_BYTES} bytes"),
        (415, "Body is not application/json"),
        (429, "Throttled: retry later"),
        (503, "A dependency is unavailable: retry later"),
    )
}


def _documented(status: int, model: type[BaseModel], description: str) -> dict[int, OpenAPIResponse]:
    success: OpenAPIResponse = {"description": description, "content": {"application/json": {"model": model}}}
    return {status: success, **ERRORS}


def _error(status: HTTPStatus | int, code: str, message: str, details: Any = None) -> Response[ErrorBody]:
    return Response(
        status_code=int(status),
        content_type="application/json",
        body=ErrorBody(code=code, message=message, details=details),
    )


def _location(job_id: str) -> str:
    # requestContext.path is the path as the client called it (with the stage prefix).
    called = app.current_event.request_context.path or app.current_event.path
    prefix = called.split("/jobs", 1)[0]
    return f"{prefix}/jobs/{job_id}"


@app.post(
    "/jobs",
    summary="Submit a job",
    description="Records the job (SUBMITTED) and sends START_JOB to the stack, as the PHP client SDK does. "
    "Idempotent: the same Idempotency-Key, or the same jobId, returns the original job and sends nothing.",
    responses=_documented(202, JobOut, "Accepted: the job, as recorded"),
)
def submit_job(
    body: SubmitJobRequest,
    service: Service,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=255, description="Replays return the first answer")
    ] = None,
) -> Response[JobOut]:
    submission = service.submit(body, idempotency_key, app.current_event.json_body)
    metrics.add_metric(
        name="JobsReplayed" if submission.replayed else "JobsSubmitted", unit=MetricUnit.Count, value=1
    )
    job_id = submission.view.job.job.jobId
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body=job_detail(submission.view),
        headers={"Location": _location(job_id), "Idempotent-Replayed": str(submission.replayed).lower()},
    )


@app.get("/jobs/<job_id>", summary="Get a job", responses=_documented(200, JobOut, "The job"))
def get_job(
    job_id: JobIdPath,
    service: Service,
    include: Annotated[
        Literal["results"] | None, Query(description="results: add each activity's full result")
    ] = None,
) -> JobOut:
    return job_detail(service.get(job_id, include_results=include == "results"))


@app.get("/jobs", summary="List jobs, newest first", responses=_documented(200, JobList, "A page of jobs"))
def list_jobs(  # noqa: PLR0917 - one parameter per query string field
    service: Service,
    status: Annotated[JobStatus | None, Query()] = None,
    createdAfter: Annotated[Timestamp | None, Query(description="inclusive, RFC 3339")] = None,
    createdBefore: Annotated[Timestamp | None, Query(description="exclusive, RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> JobList:
    page, token = service.list_jobs(
        limit=limit,
        status=status.value if status else None,
        created_from=createdAfter.timestamp() if createdAfter else None,
        created_to=createdBefore.timestamp() if createdBefore else None,
        token=nextToken,
    )
    return JobList(items=[job_summary(loaded) for loaded in page.jobs], nextToken=token)


@app.get(
    "/jobs/<job_id>/events",
    summary="A job's timeline, oldest first",
    responses=_documented(200, EventList, "A page of events"),
)
def job_events(
    job_id: JobIdPath,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> EventList:
    events, token = service.events(job_id, limit=limit, token=nextToken)
    return EventList(items=[event(entry) for entry in events], nextToken=token)


@app.post(
    "/jobs/<job_id>/cancel",
    summary="Request a job's cancellation",
    description="Marks the job cancel-requested and sends CANCEL_JOB; the job becomes CANCELED when its run "
    "then ends without completing. The original CPE stack ignores CANCEL_JOB (its InputPoller never "
    "implemented it): there, the job keeps running.",
    responses=_documented(202, JobOut, "Accepted: the job, cancel requested"),
)
def cancel_job(job_id: JobIdPath, service: Service) -> Response[JobOut]:
    view = service.cancel(job_id)
    metrics.add_metric(name="CancelsRequested", unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.ACCEPTED, content_type="application/json", body=job_detail(view))


@app.get("/openapi.json", summary="This API's OpenAPI schema", include_in_schema=False)
def openapi() -> dict[str, Any]:
    return openapi_schema()


def openapi_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(title="CPE serverless job API", version="1.0.0", openapi_version="3.1.0")
    )
    # Powertools documents its default 422 for invalid requests; this API answers 400 instead.
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema


# ------------------------------------------------------------------ errors


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(error: RequestValidationError) -> Response[ErrorBody]:
    problems = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": str(e.get("msg")),
            "type": str(e.get("type")),
        }
        for e in error.errors()
    ]
    if any(p["type"] == "json_invalid" for p in problems):
        return _error(HTTPStatus.BAD_REQUEST, "INVALID_JSON", "the body is not valid JSON", problems)
    return _error(
        HTTPStatus.BAD_REQUEST, "INVALID_REQUEST", "the request does not match the API's schema", problems
    )


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def _unsupported(error: RequestUnsupportedContentType) -> Response[ErrorBody]:
    return _error(UnsupportedMediaType.status, UnsupportedMediaType.code, "send application/json")


@app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
def _domain(error: DomainError) -> Response[ErrorBody]:
    status, code, message, details = to_http(error)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("request failed", code=code, error=str(error))
    return _error(status, code, message, details)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(error: Exception) -> Response[ErrorBody]:
    logger.error("unexpected error", exc_info=error)
    status, code, message, details = to_http(error)
    return _error(status, code, message, details)


@app.not_found
def _not_found(error: Exception) -> Response[ErrorBody]:
    path = app.current_event.path
    allowed = sorted(
        {route.method for route in app._static_routes + app._dynamic_routes if route.rule.match(path)}
    )
    if allowed:
        response = _error(HTTPStatus.METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", f"use {', '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return _error(RouteNotFound.status, RouteNotFound.code, "no such route")


def _refused_before_routing(event: dict[str, Any]) -> ApiError | None:
    """What API Gateway would let through but the routes must never parse: bodies over the limit,
    and bodies that are not JSON (Powertools would try forms and multipart)."""
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


def _proxy_error(error: ApiError) -> dict[str, Any]:
    return {
        "statusCode": int(error.status),
        "headers": {"Content-Type": "application/json"},
        "body": ErrorBody(code=error.code, message=error.message).model_dump_json(),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    refused = _refused_before_routing(event)
    if refused is not None:
        return _proxy_error(refused)
    return app.resolve(event, context)
