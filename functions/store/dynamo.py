"""The DynamoDB store (PynamoDB): the only module that talks to the jobs table.

Every write is conditional:

* Writing a job: a put conditioned on its version. When the job links new runs (a
  WORKFLOW_SCHEDULED), or holds new big values, one transaction writes the job, the runs' link items
  (each conditioned on "not linked, and parked at the version the tracker drained") and the values:
  one request per job per batch, atomic, at twice the write capacity, once per run.
* Parking a message: put the parked items first, then bump the run key's parking version,
  conditioned on "not linked" (no transaction: parking is rare and a crash in between only leaves an
  unacknowledged message, parked again on redelivery). If the bump fails, the run got linked: the
  caller applies the messages instead and the parked copies are deleted. A tracker that drained
  before the bump fails its link condition and drains again.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import pynamodb.connection.base
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from functions.jobs.errors import JobTooLarge, RunAlreadyLinked, RunClaimed, StaleJob, StorageUnavailable
from functions.jobs.messages import RunKey, RunLink
from functions.jobs.model import Job, Reported
from functions.shared import aws
from functions.shared.aws import is_throttling
from functions.store.base import (
    IDEMPOTENCY_TTL_SECONDS,
    INLINE_VALUE_LIMIT,
    JOB_ITEM_LIMIT,
    IdempotencyClaim,
    JobPage,
    JobQuery,
    LoadedJob,
    ParkedMessage,
    RunEntry,
    TableBinding,
    externalize,
    record_bytes,
)
from functions.store.layout import (
    ALL_JOBS,
    BLOB_PREFIX,
    IDEMPOTENCY_SK,
    JOB_SK,
    LINK_SK,
    PARKED_PREFIX,
    STREAM_SCHEMA_VERSION,
    created_key,
    idempotency_pk,
    job_id_of,
    job_pk,
    owner_pk,
    run_pk,
    status_pk,
)
from functions.store.records import BlobItem, IdempotencyItem, JobItem, LinkItem, ParkedItem, bind

BLOB_PART_BYTES = 300_000
BATCH_GET_KEYS = 100
TRANSACTION_ITEMS = 100
ERROR_REASON_CHARS = 256
OWNED_EXAMINED_PER_PAGE = 1000  # one owner's jobs read for one page of a status filter, at most
PARKED_TTL_SECONDS = 14 * 24 * 3600  # SQS's longest retention: a run unknown by then never comes
_CONDITION_FAILED = "ConditionalCheckFailedException"
_T = TypeVar("_T")


def share_sdk_session() -> None:
    """PynamoDB builds a botocore session for each connection it opens (one per model class and
    thread, here six), and each loads the SDK's data files again: about 100 ms of CPU a cold start
    each (bench.cold_import). PynamoDB has no public hook for a session: its module-level factory
    is pointed at the functions' per-thread session instead (tests/integration/test_dynamo_store.py
    checks that no other session is made)."""
    pynamodb.connection.base.get_session = aws.session  # type: ignore[attr-defined]


class DynamoJobStore:
    def __init__(self, binding: TableBinding, inline_limit: int = INLINE_VALUE_LIMIT) -> None:
        share_sdk_session()
        self._inline_limit = inline_limit
        self._jobs = bind(JobItem, binding)
        self._blobs = bind(BlobItem, binding)
        self._links = bind(LinkItem, binding)
        self._parked = bind(ParkedItem, binding)
        self._keys = bind(IdempotencyItem, binding)
        self._connection = Connection(region=binding.region, host=binding.host)

    # ------------------------------------------------------------------ reads

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, LoadedJob]:
        items = self._batch_get(self._jobs, [(job_pk(job_id), JOB_SK) for job_id in job_ids])
        return {
            item.job_id: LoadedJob(Job.model_validate_json(item.record), item.version, item.updated_at)
            for item in items
        }

    def lookup_runs(self, keys: Collection[RunKey]) -> dict[RunKey, RunEntry]:
        by_pk = {run_pk(key): key for key in keys}
        items = self._batch_get(self._links, [(pk, LINK_SK) for pk in by_pk])
        return {by_pk[item.pk]: _entry(item) for item in items}

    def parked(self, keys: Collection[RunKey]) -> list[ParkedMessage]:
        found = []
        for key in keys:
            query = self._parked.query(
                run_pk(key), self._parked.sk.startswith(PARKED_PREFIX), consistent_read=True
            )
            items: list[ParkedItem] = _guard(partial(list, query))
            for item in items:
                digest = item.sk.removeprefix(PARKED_PREFIX)
                found.append(ParkedMessage(key, digest, item.body, item.sent_at, item.message_id))
        return found

    def load_value(self, job_id: str, reported: Reported) -> Reported:
        if reported.held is None:
            return reported
        prefix = f"{BLOB_PREFIX}{reported.held}#"
        query = self._blobs.query(job_pk(job_id), self._blobs.sk.startswith(prefix), consistent_read=True)
        parts = _guard(lambda: list(query))
        chunks = sorted((p for p in parts if p.digest == reported.digest), key=lambda p: p.part)
        if not chunks or len(chunks) != chunks[0].parts:
            raise StorageUnavailable(f"value {reported.held} of job {job_id} is incomplete")
        return Reported.model_validate_json(zlib.decompress(b"".join(c.data for c in chunks)))

    # ------------------------------------------------------------------ writes

    def park(self, key: RunKey, messages: Sequence[ParkedMessage], now: float) -> None:
        expires = datetime.fromtimestamp(now + PARKED_TTL_SECONDS, UTC)
        items = [
            self._parked(
                run_pk(key),
                f"{PARKED_PREFIX}{message.digest}",
                body=message.body,
                sent_at=message.sent_at,
                message_id=message.message_id,
                parked_at=now,
                expires_at=expires,
            )
            for message in messages
        ]
        _guard(lambda: self._write_all(self._parked, items))
        link = self._links(run_pk(key), LINK_SK)
        try:
            link.update(
                actions=[self._links.parked.add(1), self._links.expires_at.set(expires)],
                condition=self._links.job_id.does_not_exist(),
            )
        except UpdateError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise _unavailable(exc) from exc
            # Linked meanwhile: the caller applies these messages; the copies would be left behind.
            self.discard_parked(messages)
            raise RunAlreadyLinked(key.value) from exc

    def mark_ambiguous(self, key: RunKey) -> None:
        link = self._links(run_pk(key), LINK_SK)
        _guard(lambda: link.update(actions=[self._links.ambiguous.set(True)]))

    def discard_parked(self, messages: Sequence[ParkedMessage]) -> None:
        items = [self._parked(run_pk(m.key), f"{PARKED_PREFIX}{m.digest}") for m in messages]
        _guard(lambda: self._write_all(self._parked, items, delete=True))

    def save_job(
        self,
        loaded: LoadedJob,
        job: Job,
        links: Sequence[RunLink],
        parked_seen: Mapping[RunKey, int],
        now: float,
    ) -> LoadedJob:
        stored, blobs = externalize(job, self._inline_limit)
        item = self._jobs(
            job_pk(job.jobId),
            JOB_SK,
            job_id=job.jobId,
            status=stored.status.value,
            phase=stored.phase.value,
            progress=stored.progress,
            client_name=stored.clientName,
            run_id=stored.runId,
            workflow_id=stored.workflowId,
            error_reason=error_reason(stored),
            created_at=stored.createdAt,
            updated_at=now,
            schema_version=STREAM_SCHEMA_VERSION,
            record=stored.model_dump_json(),
            list_pk=ALL_JOBS,
            status_pk=status_pk(stored.status.value),
            owner=stored.owner,
            owner_pk=owner_pk(stored.owner) if stored.owner is not None else None,
            created_key=created_key(stored.createdAt, job.jobId),
        )
        size = record_bytes(stored)
        if size > JOB_ITEM_LIMIT:
            raise JobTooLarge(job.jobId, size)
        if loaded.version is not None:
            item.version = loaded.version
        blob_items = [
            blob for name, value in blobs.items() for blob in self._blob_items(job.jobId, name, value)
        ]
        link_items = [(key, link) for link in links for key in link.lookup_keys()]
        if not link_items and not blob_items:
            try:
                item.save()
            except PutError as exc:
                if exc.cause_response_code == _CONDITION_FAILED:
                    raise StaleJob(job.jobId) from exc
                if _refused(exc):
                    raise JobTooLarge(job.jobId, size) from exc
                raise _unavailable(exc) from exc
            return LoadedJob(stored, item.version, now)
        if (
            len(blob_items) + len(link_items) >= TRANSACTION_ITEMS
            or sum(len(b.data) for b in blob_items) > 3_000_000
        ):
            # Held values are named and checked by digest: writing them ahead is idempotent.
            _guard(partial(self._write_all, self._blobs, blob_items))
            blob_items = []
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(item)  # the transaction's first item
                for key, link in link_items:
                    transaction.save(
                        self._link_item(key, link, parked_seen.get(key, 0)),
                        condition=self._unlinked(key, parked_seen),
                    )
                for blob in blob_items:
                    transaction.save(blob)
        except TransactWriteError as exc:
            failed = _failed_conditions(exc)
            if 0 in failed or _conflicted(exc):
                raise StaleJob(job.jobId) from exc
            if _refused(exc):
                raise JobTooLarge(job.jobId, size) from exc
            if not failed:
                raise _unavailable(exc) from exc
            key, link = link_items[failed[0] - 1]
            owner = self.lookup_runs([key]).get(key, RunEntry()).link
            if key.kind == "run" and owner is not None and owner.job_id != link.job_id:
                raise RunClaimed(key.value, owner.job_id) from exc
            # Parked since the tracker drained, or a workflowId taken by another run meanwhile: the
            # tracker reads again and links the run by its runId alone (settled rule 11).
            raise StaleJob(job.jobId) from exc
        return LoadedJob(stored, item.version, now)

    def delete_job(self, loaded: LoadedJob) -> None:
        item = self._jobs(job_pk(loaded.job.jobId), JOB_SK)
        try:
            item.delete(condition=self._jobs.version == loaded.version, add_version_condition=False)
        except DeleteError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                raise StaleJob(loaded.job.jobId) from exc
            raise _unavailable(exc) from exc

    def claim_idempotency_key(
        self, key_digest: str, claim: IdempotencyClaim, now: float
    ) -> IdempotencyClaim | None:
        item = self._keys(
            idempotency_pk(key_digest),
            IDEMPOTENCY_SK,
            job_id=claim.job_id,
            request_digest=claim.request_digest,
            expires_at=datetime.fromtimestamp(now + IDEMPOTENCY_TTL_SECONDS, UTC),
        )
        try:
            # An expired claim (TTL deletion lags by up to days) counts as free.
            expired = self._keys.expires_at < datetime.fromtimestamp(now, UTC)
            item.save(condition=self._keys.pk.does_not_exist() | expired)
            return None
        except PutError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise _unavailable(exc) from exc
        (held,) = self._batch_get(self._keys, [(idempotency_pk(key_digest), IDEMPOTENCY_SK)])
        return IdempotencyClaim(held.job_id, held.request_digest)

    def release_idempotency_key(self, key_digest: str) -> None:
        _guard(self._keys(idempotency_pk(key_digest), IDEMPOTENCY_SK).delete)

    def list_jobs(self, query: JobQuery) -> JobPage:
        if query.owner is not None and query.status is not None:
            return self._list_owned_of_status(query)
        index: Any
        if query.owner is not None:
            index, partition, name = self._jobs.by_owner, owner_pk(query.owner), "ownerPk"
        elif query.status is not None:
            index, partition, name = self._jobs.by_status, status_pk(query.status), "statusPk"
        else:
            index, partition, name = self._jobs.by_created, ALL_JOBS, "listPk"
        keys, more = self._index_page(index, partition, name, query)
        return JobPage(self._jobs_in_order(keys), keys[-1].created_key if more else None)

    def _list_owned_of_status(self, query: JobQuery) -> JobPage:
        """One owner's jobs of one status: the owner's index read and the jobs filtered, examining
        up to ``OWNED_EXAMINED_PER_PAGE`` of them (a shorter page then says where to go on)."""
        partition = owner_pk(query.owner or "")
        found: list[LoadedJob] = []
        after, examined = query.after, 0
        while True:
            step = replace(query, limit=min(BATCH_GET_KEYS, OWNED_EXAMINED_PER_PAGE - examined), after=after)
            keys, more = self._index_page(self._jobs.by_owner, partition, "ownerPk", step)
            examined += len(keys)
            for key, loaded in zip(keys, self._jobs_by_key(keys), strict=True):
                if loaded is not None and loaded.job.status.value == query.status:
                    found.append(loaded)
                    if len(found) == query.limit:  # the next page starts after this job
                        return JobPage(found, key.created_key if (more or key is not keys[-1]) else None)
            after = keys[-1].created_key if keys else None
            if not more or examined >= OWNED_EXAMINED_PER_PAGE:
                return JobPage(found, after if more else None)

    def _index_page(
        self, index: Any, partition: str, partition_name: str, query: JobQuery
    ) -> tuple[list[JobItem], bool]:
        """Up to ``query.limit`` keys of ``partition`` newest first, within the query's creation
        window and after its position; and whether more may follow."""
        # Sort keys are "<epoch ms>#<jobId>": "<ms>#" sorts before every job of that millisecond.
        low = created_key(query.created_from, "") if query.created_from is not None else None
        high = created_key(query.created_to, "") if query.created_to is not None else None
        sort_key = self._jobs.created_key
        condition: Condition | None = None
        if low and high:
            condition = sort_key.between(low, high)
        elif low:
            condition = sort_key >= low
        elif high:
            condition = sort_key < high
        start = None
        if query.after:
            job_id = query.after.split("#", 1)[1]
            start = {
                partition_name: {"S": partition},
                "createdKey": {"S": query.after},
                "pk": {"S": job_pk(job_id)},
                "sk": {"S": JOB_SK},
            }
        results = index.query(
            partition, condition, scan_index_forward=False, limit=query.limit, last_evaluated_key=start
        )
        keys: list[JobItem] = _guard(partial(list, results))
        return keys, results.last_evaluated_key is not None and bool(keys)

    def _jobs_by_key(self, keys: list[JobItem]) -> list[LoadedJob | None]:
        """The jobs of index keys, in their order (None where the index lags the table)."""
        job_ids = [job_id_of(key.pk) for key in keys]  # keys-only index: no other attribute
        jobs = self.get_jobs(job_ids) if keys else {}
        return [jobs.get(job_id) for job_id in job_ids]

    def _jobs_in_order(self, keys: list[JobItem]) -> list[LoadedJob]:
        return [loaded for loaded in self._jobs_by_key(keys) if loaded is not None]

    # ------------------------------------------------------------------ helpers

    def _link_item(self, key: RunKey, link: RunLink, seen: int) -> LinkItem:
        # The parking version stays on the link: a redelivered WORKFLOW_SCHEDULED can then find
        # parked messages a crash left behind.
        return self._links(
            run_pk(key),
            LINK_SK,
            job_id=link.job_id,
            run_id=link.run_id,
            workflow_id=link.workflow_id,
            parked=seen or None,
        )

    def _unlinked(self, key: RunKey, parked_seen: Mapping[RunKey, int]) -> Any:
        seen = parked_seen.get(key, 0)
        unchanged = self._links.parked == seen if seen else self._links.parked.does_not_exist()
        return self._links.job_id.does_not_exist() & self._links.ambiguous.does_not_exist() & unchanged

    def _blob_items(self, job_id: str, name: str, reported: Reported) -> Iterator[BlobItem]:
        data = zlib.compress(reported.model_dump_json().encode(), 6)
        chunks = [data[i : i + BLOB_PART_BYTES] for i in range(0, len(data), BLOB_PART_BYTES)] or [b""]
        for index, chunk in enumerate(chunks):
            yield self._blobs(
                job_pk(job_id),
                f"{BLOB_PREFIX}{name}#{index:04d}",
                digest=reported.digest,
                part=index,
                parts=len(chunks),
                data=chunk,
            )

    @staticmethod
    def _write_all(record: Any, items: Sequence[Any], *, delete: bool = False) -> None:
        with record.batch_write() as batch:
            for item in items:
                if delete:
                    batch.delete(item)
                else:
                    batch.save(item)

    def _batch_get(self, record: Any, keys: list[tuple[str, str]]) -> list[Any]:
        found: list[Any] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            chunk = keys[start : start + BATCH_GET_KEYS]
            found += _guard(partial(list, record.batch_get(chunk, consistent_read=True)))
        return found


def error_reason(job: Job) -> str | None:
    """The job item's ``errorReason``: why the job ended other than COMPLETED, in a few words."""
    reason = (job.error or {}).get("reason")
    return str(reason)[:ERROR_REASON_CHARS] if reason is not None else None


def _entry(item: LinkItem) -> RunEntry:
    link = RunLink(item.run_id, item.job_id, item.workflow_id) if item.job_id and item.run_id else None
    return RunEntry(link, int(item.parked or 0), bool(item.ambiguous))


def _failed_conditions(exc: TransactWriteError) -> list[int]:
    return [
        index
        for index, reason in enumerate(exc.cancellation_reasons)
        if reason is not None and reason.code == "ConditionalCheckFailed"
    ]


def _refused(exc: PynamoDBException) -> bool:
    """DynamoDB refused the write itself (an item over its size limit): retrying cannot help."""
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return exc.cause_response_code == "ValidationException" or any(
        reason is not None and reason.code == "ValidationError" for reason in reasons
    )


def _conflicted(exc: TransactWriteError) -> bool:
    return exc.cause_response_code == "TransactionConflictException" or any(
        reason is not None and reason.code == "TransactionConflict" for reason in exc.cancellation_reasons
    )


def _guard(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except PynamoDBException as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: PynamoDBException) -> StorageUnavailable:
    code = exc.cause_response_code or ""
    reasons = getattr(exc, "cancellation_reasons", None) or []  # a transaction's, item by item
    throttled = is_throttling(code) or any(r is not None and r.code == "ThrottlingError" for r in reasons)
    return StorageUnavailable(f"{type(exc).__name__}: {code} {exc.msg or ''}".strip(), throttled=throttled)
