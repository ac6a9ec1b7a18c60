"""Lambda entry point of the job API (API Gateway REST API, proxy integration): the app and its
routes (declared in functions.api.routes).

Thin: Powertools parses and validates requests against the models (which also make the OpenAPI
schema), the routes call :class:`~functions.api.service.JobService`, and every error leaves as
one JSON shape: ``{"code", "message", "details"}`` (functions.api.errors).
"""

from __future__ import annotations

import os
from contextlib import suppress
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Literal, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import routes
from functions.api.cors import add_grant
from functions.api.edge import method_not_allowed, refused_before_routing
from functions.api.errors import (
    InvalidJson,
    InvalidRequest,
    JobNotFound,
    NoIdentity,
    RouteNotFound,
    UnsupportedMediaType,
    error_body,
)
from functions.api.models import (
    ErrorBody,
    EventList,
    JobList,
    JobOut,
    SubmitJobRequest,
    UploadOut,
    UploadRequest,
    WebhookOut,
    WebhookRequest,
)
from functions.api.openapi import ERRORS, documented, openapi_schema
from functions.api.parsing import Timestamp, strict_json
from functions.api.service import JobService
from functions.api.settings import ApiSettings, CorsSettings
from functions.api.views import event, job_detail, job_summary, upload_form, webhook_view
from functions.api.webhooks import WebhookService
from functions.jobs.errors import DomainError
from functions.jobs.model import JobStatus
from functions.jobs.names import JOB_ID_PATTERN
from functions.jobs.owners import Caller, Unidentified
from functions.metrics import Metric
from functions.shared import snapstart
from functions.shared.models import build_models

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=strict_json)


@cache
def _settings() -> ApiSettings:
    return ApiSettings.from_environ(os.environ)


@cache
def _service() -> JobService:
    return _settings().service()


@cache
def _cors_origins() -> frozenset[str]:
    return CorsSettings.from_environ(os.environ).origins


def get_service() -> JobService:
    return _service()


@cache
def _webhooks() -> WebhookService:
    return _settings().webhooks()


def get_webhooks() -> WebhookService:
    return _webhooks()


Service = Annotated[JobService, Depends(get_service)]
Webhooks = Annotated[WebhookService, Depends(get_webhooks)]
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
JobIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The job's id")]


def _caller(service: JobService) -> Caller:
    """Who the request acts for, from what API Gateway verified (its IAM principal or JWT claims)."""
    try:
        return service.caller(app.current_event.raw_event.get("requestContext") or {})
    except Unidentified as exc:
        raise NoIdentity(str(exc)) from None


def _location(job_id: str) -> str:
    # requestContext.path is the path as the client called it (with the stage prefix).
    called = app.current_event.request_context.path or app.current_event.path
    prefix = called.split("/jobs", 1)[0]
    return f"{prefix}/jobs/{job_id}"


@app.post(
    routes.SUBMIT_JOB.rule,
    summary="Submit a job",
    description="Records the job (SUBMITTED) and sends START_JOB to the stack, as the PHP client SDK does. "
    "Idempotent: the same Idempotency-Key, or the same jobId, returns the original job and sends nothing.",
    responses=documented(202, JobOut, "Accepted: the job, as recorded"),
)
def submit_job(
    body: SubmitJobRequest,
    service: Service,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=255, description="Replays return the first answer")
    ] = None,
) -> Response[JobOut]:
    submission = service.submit(_caller(service), body, idempotency_key, app.current_event.json_body)
    metrics.add_metric(
        name=Metric.JOBS_REPLAYED if submission.replayed else Metric.JOBS_SUBMITTED,
        unit=MetricUnit.Count,
        value=1,
    )
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body=job_detail(submission.view),
        headers={
            "Location": _location(submission.view.job.jobId),
            "Idempotent-Replayed": str(submission.replayed).lower(),
        },
    )


@app.get(routes.GET_JOB.rule, summary="Get a job", responses=documented(200, JobOut, "The job"))
def get_job(
    job_id: JobIdPath,
    service: Service,
    include: Annotated[
        Literal["results"] | None, Query(description="results: add each activity's full result")
    ] = None,
) -> JobOut:
    return job_detail(service.get(_caller(service), job_id, include_results=include == "results"))


@app.get(
    routes.LIST_JOBS.rule,
    summary="List jobs, newest first",
    responses=documented(200, JobList, "A page of jobs"),
)
def list_jobs(  # noqa: PLR0917 - one parameter per query string field
    service: Service,
    status: Annotated[JobStatus | None, Query()] = None,
    owner: Annotated[
        str | None, Query(min_length=1, max_length=512, description="an operator's: this owner's jobs")
    ] = None,
    createdAfter: Annotated[Timestamp | None, Query(description="inclusive, RFC 3339")] = None,
    createdBefore: Annotated[Timestamp | None, Query(description="exclusive, RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> JobList:
    page, token = service.list_jobs(
        _caller(service),
        limit=limit,
        owner=owner,
        status=status.value if status else None,
        created_from=createdAfter.timestamp() if createdAfter else None,
        created_to=createdBefore.timestamp() if createdBefore else None,
        token=nextToken,
    )
    return JobList(items=[job_summary(loaded) for loaded in page.jobs], nextToken=token)


@app.get(
    routes.JOB_EVENTS.rule,
    summary="A job's timeline, oldest first",
    responses=documented(200, EventList, "A page of events"),
)
def job_events(
    job_id: JobIdPath,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> EventList:
    events, token = service.events(_caller(service), job_id, limit=limit, token=nextToken)
    return EventList(items=[event(entry) for entry in events], nextToken=token)


@app.post(
    routes.CANCEL_JOB.rule,
    summary="Request a job's cancellation",
    description="Marks the job cancel-requested and sends CANCEL_JOB; the job becomes CANCELED when its run "
    "then ends without completing. The original CPE stack ignores CANCEL_JOB (its InputPoller never "
    "implemented it): there, the job keeps running.",
    responses=documented(202, JobOut, "Accepted: the job, cancel requested"),
)
def cancel_job(job_id: JobIdPath, service: Service) -> Response[JobOut]:
    view = service.cancel(_caller(service), job_id)
    metrics.add_metric(name=Metric.CANCELS_REQUESTED, unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.ACCEPTED, content_type="application/json", body=job_detail(view))


@app.post(
    routes.CREATE_UPLOAD.rule,
    summary="Ask for an upload form",
    description="A presigned POST to the stack's media bucket: send its fields, then the file (last), as "
    "multipart/form-data to its url before it expires. S3 itself refuses a file over maxBytes, of another "
    "content type, or under another key. Then submit a job whose input_asset is the one given here.",
    responses=documented(201, UploadOut, "The form"),
)
def create_upload(body: UploadRequest, service: Service) -> Response[UploadOut]:
    grant = service.upload(_caller(service), body.contentType, body.filename)
    metrics.add_metric(name=Metric.UPLOADS_GRANTED, unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=upload_form(grant))


@app.get(routes.GET_WEBHOOK.rule, summary="Your webhook", responses=documented(200, WebhookOut, "It"))
def get_webhook(service: Service, webhooks: Webhooks) -> WebhookOut:
    return webhook_view(webhooks.get(_caller(service)))


@app.put(
    routes.SET_WEBHOOK.rule,
    summary="Send your jobs' events to this URL",
    description="Every state change of your jobs (and only yours) is POSTed there, signed with your own "
    "secret (Standard Webhooks). The first PUT makes the secret and shows it, once; later PUTs change "
    "the URL.",
    responses=documented(200, WebhookOut, "Your webhook (201 when made, with its secret)"),
)
def set_webhook(body: WebhookRequest, service: Service, webhooks: Webhooks) -> Response[WebhookOut]:
    change = webhooks.set_url(_caller(service), body.url)
    status = HTTPStatus.CREATED if change.created else HTTPStatus.OK
    return Response(
        status_code=status, content_type="application/json", body=webhook_view(change.webhook, change.secret)
    )


@app.post(
    routes.ROTATE_WEBHOOK_SECRET.rule,
    summary="Make a new signing secret",
    description="Shown once. The previous secrets keep signing (every delivery carries each signature) "
    "for 24 hours, so receivers can switch without missing one.",
    responses=documented(200, WebhookOut, "Your webhook, with the new secret"),
)
def rotate_webhook_secret(service: Service, webhooks: Webhooks) -> WebhookOut:
    change = webhooks.rotate(_caller(service))
    return webhook_view(change.webhook, change.secret)


@app.delete(
    routes.DELETE_WEBHOOK.rule,
    summary="Stop sending your jobs' events",
    responses={204: {"description": "Removed"}, **ERRORS},
)
def delete_webhook(service: Service, webhooks: Webhooks) -> Response[None]:
    webhooks.delete(_caller(service))
    return Response(status_code=HTTPStatus.NO_CONTENT, content_type="application/json", body=None)


@app.get(
    routes.JOB_PLAYLIST.rule,
    summary="An HLS playlist of the job's outputs, playable from a browser",
    description="The playlist at `key` (in the folder of one of the job's outputs in the stack's media "
    "bucket, below the owner's outputs prefix) with every segment, init section and key it names "
    "replaced by its presigned link, and every playlist it names by this route for it (relative: "
    "players resolve it against this one). Point a player (hls.js) at it, with the same Authorization "
    "as any request.",
    responses={
        200: {
            "description": "The playlist",
            "content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
)
def job_playlist(
    job_id: JobIdPath,
    service: Service,
    key: Annotated[str, Query(min_length=6, max_length=1024, description="The playlist's object key")],
) -> Response[str]:
    text = service.playlist(_caller(service), job_id, key)
    # Its links live as long as media.downloadLinkSeconds: a player re-reads it well before.
    return Response(
        status_code=HTTPStatus.OK,
        content_type=PLAYLIST_TYPE,
        body=text,
        headers={"Cache-Control": "private, max-age=60"},
    )


@app.get(routes.OPENAPI.rule, summary="This API's OpenAPI schema", include_in_schema=False)
def openapi() -> dict[str, Any]:
    return openapi_schema(app)


# ------------------------------------------------------------------ errors


def _answer(error: Exception) -> Response[ErrorBody]:
    status, body, headers = error_body(error)
    return Response(status_code=int(status), content_type="application/json", body=body, headers=headers)


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
        return _answer(InvalidJson("the body is not valid JSON", problems))
    return _answer(InvalidRequest("the request does not match the API's schema", problems))


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def _unsupported(error: RequestUnsupportedContentType) -> Response[ErrorBody]:
    return _answer(UnsupportedMediaType("send application/json"))


@app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
def _domain(error: DomainError) -> Response[ErrorBody]:
    response = _answer(error)
    if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("request failed", code=response.body.code if response.body else None, error=str(error))
    return response


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(error: Exception) -> Response[ErrorBody]:
    logger.error("unexpected error", exc_info=error)
    return _answer(error)


@app.not_found
def _not_found(error: Exception) -> Response[ErrorBody]:
    request = app.current_event
    return _answer(method_not_allowed(request.http_method, request.path) or RouteNotFound("no such route"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name=Metric.REQUESTS, unit=MetricUnit.Count, value=1)
    refused = refused_before_routing(event)
    if refused is not None:
        status, body, headers = error_body(refused)
        response = {
            "statusCode": int(status),
            "headers": {"Content-Type": "application/json", **headers},
            "body": body.model_dump_json(),
            "isBase64Encoded": False,
        }
    else:
        response = app.resolve(event, context)
    add_grant(response, _cors_origins(), event.get("headers"))
    return response


# A job id the API refuses (so no caller's job has it), and a submit its schema refuses.
_PRIMING_JOB_ID = "#snapstart-priming"
_PRIMING_REQUEST = {
    "resource": routes.SUBMIT_JOB.path,
    "path": routes.SUBMIT_JOB.path,
    "httpMethod": routes.SUBMIT_JOB.method,
    "headers": {"Content-Type": "application/json"},
    "multiValueHeaders": {"Content-Type": ["application/json"]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "requestContext": {"path": routes.SUBMIT_JOB.path, "resourcePath": routes.SUBMIT_JOB.path},
    "body": "{}",
    "isBase64Encoded": False,
}


def prime() -> None:
    """What a cold start's first requests pay, paid once before a SnapStart snapshot: the settings,
    the service, its DynamoDB client and credentials (a consistent read of a job id no job has),
    every model's validator and serializer (functions.shared.models: built at first use otherwise),
    and a submit routed through the app, which builds the route's own validation and is refused
    by it. Nothing is written, sent or counted. Best effort: a step that fails is logged and the
    snapshot taken anyway (a failed hook would fail the deploy for a slower first request), and
    the connections it opened are closed, since they may not survive a restore."""
    from functions.shared import aws  # noqa: PLC0415 - botocore at first use, as the service does

    try:
        service = _service()
        _cors_origins()
        with suppress(JobNotFound):
            caller = Caller(owner="snapstart", client_name=_settings().client_name, operator=True)
            service.get(caller, _PRIMING_JOB_ID)
    except Exception as error:  # noqa: BLE001 - whatever it is, the snapshot is still worth taking
        logger.warning("priming: the read failed", error=str(error))
    finally:
        aws.close_connections()
    if unbuilt := build_models():
        logger.warning("priming: some models could not be built", models=unbuilt)
    # Before any invocation there is no context; nothing reads it on a refused request.
    answer = app.resolve(_PRIMING_REQUEST, cast(LambdaContext, None))
    if answer["statusCode"] != HTTPStatus.BAD_REQUEST:
        logger.warning("priming: the refused submit was answered otherwise", status=answer["statusCode"])


snapstart.register_hooks(prime)
