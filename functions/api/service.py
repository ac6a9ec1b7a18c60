"""What the API does: submit, read, list, follow and cancel jobs. No HTTP here, no AWS imports:
the store and the command queue are passed in.

Every operation acts for a :class:`~functions.jobs.owners.Caller`: a job belongs to the caller
that submitted it, and another owner's job does not exist for you (404), lists show your jobs,
Idempotency-Keys are yours alone; an operator sees and acts on every owner's jobs.

Submitting is idempotent. The identity of a request is its ``Idempotency-Key`` if given, else its
``jobId`` if given: a replay with the same body returns the original job and sends nothing more; the
same identity with another body is a 409. The job is written (``SUBMITTED``) before ``START_JOB`` is
sent; if the send fails, the job is removed again, so no job claims to be submitted without its
command. A replay that finds the job written but not dispatched yet is told to retry (409
``REQUEST_IN_PROGRESS`` with ``Retry-After``), never that it was accepted: the first request may
still fail and remove it. A job whose send outcome was lost (a crash) is dispatched by a replay
once ``DISPATCH_GRACE_SECONDS`` have passed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.api import media
from functions.api.errors import (
    Conflict,
    Forbidden,
    InProgress,
    InvalidRequest,
    JobNotFound,
    PlaylistMissing,
    PlaylistTooLarge,
    UploadsDisabled,
)
from functions.api.media import MediaAccess, MediaReference, UploadGrant
from functions.api.models import SubmitJobRequest
from functions.jobs.commands import cancel_job_body, start_job_body
from functions.jobs.errors import StaleJob
from functions.jobs.machine import derive, ended_only_by_stall, request_cancel, submitted_job, timeline
from functions.jobs.model import Job, TimelineEvent, json_digest
from functions.jobs.owners import Caller, OwnerPolicy, canonical_owner
from functions.jobs.rules import CompletionRule
from functions.messaging.base import MessageQueue, QueueUnavailable
from functions.shared.retry import OptimisticRetry
from functions.shared.urls import Resolver, UnsafeUrl, UrlPolicy, check_fetchable_url, system_resolver
from functions.store.base import IdempotencyClaim, JobPage, JobQuery, JobStore, LoadedJob

UPDATE_ATTEMPTS = 5
# A replay dispatches a job its first request wrote but did not dispatch only after this long:
# before, that request is most likely still sending (else two START_JOB would go out).
DISPATCH_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class ApiConfig:
    client_name: str
    input_queue_url: str
    output_queue_url: str
    workflow: dict[str, Any]  # the default data.workflow
    other_workflows: tuple[dict[str, Any], ...] = ()  # the others a job may name
    trusted_url_hosts: frozenset[str] = frozenset()  # the local stack's own endpoints
    allow_custom_cmd: bool = False
    owners: OwnerPolicy | None = None  # None: IAM principals, each its own owner, one client name

    def allows(self, workflow: dict[str, Any]) -> bool:
        """Whether a job may name ``workflow``: the stack's, or one it lists (its timeout aside)."""
        fields = ("name", "version", "taskList", "domain")
        wanted = tuple(workflow.get(field) for field in fields)
        return any(wanted == tuple(w.get(f) for f in fields) for w in (self.workflow, *self.other_workflows))

    @property
    def owner_policy(self) -> OwnerPolicy:
        return self.owners or OwnerPolicy("iam", self.client_name)

    def client(self, name: str | None = None) -> dict[str, Any]:
        """``data.client`` as the PHP SDK injects it (``name``: the owner's client name)."""
        return {
            "name": name or self.client_name,
            "queues": {"input": self.input_queue_url, "output": self.output_queue_url},
        }


@dataclass(frozen=True)
class JobView:
    """A job as stored, with the values the store may keep beside it: its payload, and activity
    results; and its outputs as the caller sees them (with download links, where the stack has)."""

    loaded: LoadedJob
    payload: dict[str, Any]
    results: dict[str, Any]
    linked_outputs: list[dict[str, Any]] | None = None

    @property
    def job(self) -> Job:
        return self.loaded.job

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return self.linked_outputs if self.linked_outputs is not None else self.job.outputs


@dataclass(frozen=True)
class Submission:
    view: JobView
    replayed: bool


class JobService:
    def __init__(
        self,
        store: JobStore,
        queue: MessageQueue,
        config: ApiConfig,
        rule: CompletionRule,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        resolve: Resolver = system_resolver,
        sleep: Callable[[float], None] = time.sleep,
        media: MediaAccess | None = None,
    ) -> None:
        """``media``: the stack's media bucket (uploads, output links); None without one."""
        self._store = store
        self._media = media
        self._queue = queue
        self._config = config
        self._rule = rule
        self._clock = clock
        self._new_id = new_id
        self._resolve = resolve
        self._retry = OptimisticRetry(UPDATE_ATTEMPTS, sleep=sleep)

    def caller(self, request_context: dict[str, Any]) -> Caller:
        """Who a request acts for; raises Unidentified."""
        return self._config.owner_policy.caller(request_context)

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        caller: Caller,
        request: SubmitJobRequest,
        idempotency_key: str | None,
        body: dict[str, Any] | None = None,
    ) -> Submission:
        """Submit ``request``; ``body`` is the request as the client wrote it (validated as
        ``request``, without coercion), whose key order START_JOB keeps, as the PHP SDK would."""
        self._check_what_the_job_names(caller, request)
        payload = self._payload(request, body)
        digest = json_digest(
            {
                "payload": payload,
                "jobId": request.jobId,
                "callbackUrl": request.callbackUrl,
                "metadata": request.metadata,
            }
        )
        job_id = request.jobId or self._new_id()
        key_digest = None
        if idempotency_key is not None:
            key_digest = hashlib.sha256(f"{caller.owner}\x1f{idempotency_key}".encode()).hexdigest()
            held = self._store.claim_idempotency_key(
                key_digest, IdempotencyClaim(job_id, digest), self._clock()
            )
            if held is not None:
                if held.request_digest != digest:
                    raise Conflict(
                        "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with a different request"
                    )
                job_id = held.job_id
        now = self._clock()
        job = submitted_job(
            job_id,
            payload,
            now,
            caller.client_name,
            owner=caller.owner,
            request_digest=digest,
            callback_url=request.callbackUrl,
            metadata=request.metadata,
        )
        derive(job, self._rule)
        try:
            loaded = self._store.save_job(LoadedJob(job, None), job, [], {}, now)
        except StaleJob:
            return self._replay(caller, job_id, digest, payload)
        return Submission(JobView(self._dispatch(loaded, payload, key_digest), payload, {}), replayed=False)

    def _replay(self, caller: Caller, job_id: str, digest: str, payload: dict[str, Any]) -> Submission:
        existing = self._store.get_jobs([job_id]).get(job_id)
        if existing is None:  # removed after a failed send, between our write and our read
            raise StaleJob(job_id)
        # Another owner's job is refused like any other request's: nothing of it is revealed.
        if existing.job.requestDigest != digest or existing.job.owner != caller.owner:
            raise Conflict("JOB_ID_TAKEN", f"job {job_id} exists with a different request")
        job = existing.job
        if job.dispatchedAt is None and not job.runs:
            if self._clock() - (job.submittedAt or 0.0) <= DISPATCH_GRACE_SECONDS:
                # The first request is most likely still sending START_JOB, and may yet fail and
                # remove the job: a replay is never told "accepted" for a job not dispatched.
                raise InProgress(f"job {job_id} is being submitted by an earlier request; retry")
            existing = self._dispatch(existing, payload, None)
        # Same digest, same payload: no need to fetch it from the store.
        return Submission(JobView(existing, payload, {}), replayed=True)

    def _dispatch(self, loaded: LoadedJob, payload: dict[str, Any], key_digest: str | None) -> LoadedJob:
        """Send START_JOB, then record that it was sent; if the send fails, undo the submission."""
        job = loaded.job
        sent_at = self._clock()
        client = self._config.client(job.clientName)
        body = start_job_body(job_id=job.jobId, time=sent_at, data={**payload, "client": client})
        try:
            self._queue.send(body)
        except QueueUnavailable:
            with contextlib.suppress(StaleJob):  # it moved on (a replay dispatched it): leave it
                self._store.delete_job(loaded)
            if key_digest is not None:
                self._store.release_idempotency_key(key_digest)
            raise
        return self._update(loaded, lambda j: setattr(j, "dispatchedAt", j.dispatchedAt or sent_at))

    def _payload(self, request: SubmitJobRequest, body: dict[str, Any] | None) -> dict[str, Any]:
        """START_JOB ``data`` without ``client``: the job as submitted (keys the CT job does not know
        included, in their order), the stack's workflow by default; the API's own fields left out."""
        given = dict(body) if body is not None else request.model_dump(mode="json", exclude_unset=True)
        for field in ("jobId", "callbackUrl", "metadata"):
            given.pop(field, None)
        return {"workflow": given.pop("workflow", None) or dict(self._config.workflow), **given}

    def _check_what_the_job_names(self, caller: Caller, request: SubmitJobRequest) -> None:
        problems = self._media.misplaced(caller, _media_references(request)) if self._media else []
        if request.workflow is not None and not self._config.allows(request.workflow.model_dump()):
            problems.append(
                {
                    "loc": ["body", "workflow"],
                    "msg": "this stack runs only the workflows its configuration names",
                    "type": "workflow_not_allowed",
                }
            )
        if request.input_asset.http is not None:
            problems += self._url_problem(
                ("input_asset", "http"), request.input_asset.http, {"http", "https"}
            )
        if request.callbackUrl is not None:
            problems += self._url_problem(("callbackUrl",), request.callbackUrl, {"https"})
        if not self._config.allow_custom_cmd:
            for index, output in enumerate(request.outputs()):
                if output.custom_cmd is not None:
                    where = (
                        ("output_asset",) if request.output_asset is not None else ("output_assets", index)
                    )
                    problems.append(
                        {
                            "loc": ["body", *where, "custom_cmd"],
                            "msg": "custom commands are disabled on this stack",
                            "type": "disabled",
                        }
                    )
        if problems:
            raise InvalidRequest("the job names something the stack must not use", problems)

    def _url_problem(self, where: tuple[str, ...], url: str, schemes: set[str]) -> list[dict[str, Any]]:
        try:
            check_fetchable_url(
                url, UrlPolicy(frozenset(schemes), self._config.trusted_url_hosts, self._resolve)
            )
        except UnsafeUrl as exc:
            return [{"loc": ["body", *where], "msg": f"URL {exc}", "type": "unsafe_url"}]
        return []

    # ------------------------------------------------------------------ read

    def get(self, caller: Caller, job_id: str, *, include_results: bool = False) -> JobView:
        """The job, its payload, and (with ``include_results``) the full results of its activities,
        keyed by ``<runId>/<activityId>``: big values are fetched from where the store keeps them."""
        loaded = self._load(caller, job_id)
        results: dict[str, Any] = {}
        if include_results:
            for run in loaded.job.runs.values():
                for activity in run.activities.values():
                    if activity.result is not None:
                        value = self._store.load_value(job_id, activity.result)
                        results[f"{run.runId}/{activity.activityId}"] = value.value
        linked = self._media.links(loaded.job.outputs, loaded.job.owner) if self._media is not None else None
        return JobView(loaded, self._payload_of(loaded), results, linked)

    def playlist(self, caller: Caller, job_id: str, key: str) -> str:
        """An HLS playlist one of the job's outputs wrote in the media bucket, every object it
        names presigned (functions.api.playlists): what a browser's player reads."""
        if self._media is None:
            raise PlaylistMissing("this stack has no media bucket: its outputs are in buckets of yours")
        loaded = self._load(caller, job_id)
        try:
            return self._media.playlist(loaded.job.outputs, loaded.job.owner, key)
        except media.PlaylistNotFound as exc:
            raise PlaylistMissing(str(exc)) from exc
        except media.PlaylistTooLarge as exc:
            raise PlaylistTooLarge(str(exc)) from exc

    # ------------------------------------------------------------------ uploads

    def upload(self, caller: Caller, content_type: str, filename: str | None) -> UploadGrant:
        """A form to upload one file to the media bucket, under the caller's prefix."""
        if self._media is None:
            raise UploadsDisabled("this stack has no media bucket: upload to a bucket of yours")
        return self._media.upload(caller, content_type, filename)

    def list_jobs(
        self,
        caller: Caller,
        *,
        limit: int,
        owner: str | None = None,
        status: str | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        token: str | None = None,
    ) -> tuple[JobPage, str | None]:
        """The caller's jobs; an operator's: everyone's, or ``owner``'s."""
        owner = canonical_owner(owner) if owner is not None else None  # a role by any of its ARNs
        if owner is not None and not caller.operator and owner != caller.owner:
            raise Forbidden("only an operator lists another owner's jobs")
        listed = owner if caller.operator else caller.owner
        scope = {"owner": listed, "status": status, "from": created_from, "to": created_to}
        after = _decode_token(token, scope).get("after") if token else None
        if after is not None and not (
            isinstance(after, str) and re.fullmatch(r"[0-9]{15}#[A-Za-z0-9_.:-]{1,128}", after)
        ):
            raise InvalidRequest("nextToken is not a token this API gave", [{"loc": ["query", "nextToken"]}])
        query = JobQuery(
            limit=limit,
            owner=listed,
            status=status,
            created_from=created_from,
            created_to=created_to,
            after=after,
        )
        page = self._store.list_jobs(query)
        return page, _encode_token({"after": page.after}, scope) if page.after else None

    def events(
        self, caller: Caller, job_id: str, *, limit: int, token: str | None = None
    ) -> tuple[list[TimelineEvent], str | None]:
        loaded = self._load(caller, job_id)
        scope = {"jobId": job_id}
        start = _decode_token(token, scope).get("offset", -1) if token else 0
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise InvalidRequest("nextToken is not a token this API gave", [{"loc": ["query", "nextToken"]}])
        events = timeline(loaded.job)
        page = events[start : start + limit]
        more = start + limit < len(events)
        return page, _encode_token({"offset": start + limit}, scope) if more else None

    # ------------------------------------------------------------------ cancel

    def cancel(self, caller: Caller, job_id: str) -> JobView:
        """Record the cancel request, then send CANCEL_JOB (undoing the record if the send fails)."""
        loaded = self._load(caller, job_id)
        if self._ended(loaded.job):
            raise Conflict("JOB_FINISHED", f"job {job_id} already ended: {loaded.job.status.value}")
        now = self._clock()
        was_requested = loaded.job.cancelRequested
        marked = self._update(loaded, lambda job: request_cancel(job, now))
        if self._ended(marked.job):  # ended while we marked it
            raise Conflict("JOB_FINISHED", f"job {job_id} already ended: {marked.job.status.value}")
        job = marked.job
        payload = self._payload_of(marked)
        workflow = payload.get("workflow")
        data = {
            "workflow": workflow or self._config.workflow,
            "client": self._config.client(job.clientName),
            **({"runId": job.runId, "workflowId": job.workflowId} if job.runId else {}),
        }
        try:
            self._queue.send(cancel_job_body(job_id=job_id, time=now, data=data))
        except QueueUnavailable:
            if not was_requested:
                self._update(marked, _withdraw_cancel)
            raise
        return JobView(marked, payload, {})

    # ------------------------------------------------------------------ helpers

    def _ended(self, job: Job) -> bool:
        """Ended by its own reports: a job the watchdog ended may still be at work (cancel it)."""
        return job.status.is_terminal and not ended_only_by_stall(job, self._rule)

    def _load(self, caller: Caller, job_id: str) -> LoadedJob:
        loaded = self._store.get_jobs([job_id]).get(job_id)
        if loaded is None or not caller.may_see(loaded.job.owner):  # another owner's: not there
            raise JobNotFound(f"no job {job_id}")
        return loaded

    def _payload_of(self, loaded: LoadedJob) -> dict[str, Any]:
        """The job's payload, fetched from where the store keeps it if it is big."""
        if loaded.job.payload is None:
            return {}
        value = self._store.load_value(loaded.job.jobId, loaded.job.payload).value
        return value if isinstance(value, dict) else {}

    def _update(self, loaded: LoadedJob, change: Callable[[Job], Any]) -> LoadedJob:
        """Apply ``change`` and write it, re-reading and re-applying when the tracker wrote meanwhile."""
        for _ in self._retry:
            job = loaded.job.model_copy(deep=True)
            change(job)
            derive(job, self._rule)
            if job == loaded.job:
                return loaded
            try:
                return self._store.save_job(loaded, job, [], {}, self._clock())
            except StaleJob:
                fresh = self._store.get_jobs([job.jobId]).get(job.jobId)
                if fresh is None:
                    raise JobNotFound(f"no job {job.jobId}") from None
                loaded = fresh
        raise StaleJob(loaded.job.jobId)


def _withdraw_cancel(job: Job) -> None:
    job.cancelRequested, job.cancelRequestedAt = False, None


def _encode_token(position: dict[str, Any], scope: dict[str, Any]) -> str:
    document = {**position, "s": json_digest(scope)[:16]}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, scope: dict[str, Any]) -> dict[str, Any]:
    """Opaque pagination tokens: base64url JSON bound to the query they came from."""
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            "nextToken is not a token this API gave", [{"loc": ["query", "nextToken"]}]
        ) from exc
    if not isinstance(document, dict) or document.get("s") != json_digest(scope)[:16]:
        raise InvalidRequest("nextToken belongs to another query", [{"loc": ["query", "nextToken"]}])
    return document


def _media_references(request: SubmitJobRequest) -> list[MediaReference]:
    """Every place in a bucket the job names: its input, each output, each watermark."""
    source = request.input_asset
    references = [MediaReference(("input_asset", "file"), source.bucket, source.file)]
    for index, output in enumerate(request.outputs()):
        where: tuple[str | int, ...] = (
            ("output_asset",) if request.output_asset is not None else ("output_assets", index)
        )
        references.append(MediaReference((*where, "file"), output.bucket, output.file, writes=True))
        if output.watermark is not None:
            mark = output.watermark
            references.append(MediaReference((*where, "watermark", "file"), mark.bucket, mark.file))
    return references
