"""The DynamoDB store (PynamoDB): the only module that talks to the jobs table.

Concurrency: the job item carries a version attribute (optimistic locking); run links are written
in the same transaction as the job, with a condition that the run is new or already ours; parking
a message is a transaction conditioned on the run *not* being linked yet. So a message is either
parked before the link exists (and the writer of the link drains it afterwards) or sees the link.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from functions.jobs.errors import JobTooLarge, RunAlreadyLinked, RunClaimed, StaleJob, StorageUnavailable
from functions.jobs.model import Job, Reported
from functions.jobs.protocol import RunKey, RunLink
from functions.store.base import (
    INLINE_VALUE_LIMIT,
    JOB_ITEM_LIMIT,
    LoadedJob,
    ParkedMessage,
    externalize,
)
from functions.store.records import (
    BLOB_PREFIX,
    JOB_SK,
    LINK_SK,
    PARKED_PREFIX,
    BlobItem,
    JobItem,
    LinkItem,
    ParkedItem,
    TableBinding,
    bind,
    job_pk,
    run_pk,
)

BLOB_PART_BYTES = 300_000
TRANSACTION_ITEMS = 100
BATCH_GET_KEYS = 100
PARKED_TTL_SECONDS = 14 * 24 * 3600  # SQS's longest retention: a run unknown by then never comes


class DynamoJobStore:
    def __init__(self, binding: TableBinding, inline_limit: int = INLINE_VALUE_LIMIT) -> None:
        self._binding = binding
        self._inline_limit = inline_limit
        self._jobs = bind(JobItem, binding)
        self._blobs = bind(BlobItem, binding)
        self._links = bind(LinkItem, binding)
        self._parked = bind(ParkedItem, binding)
        self._connection = Connection(region=binding.region, host=binding.host)

    # ------------------------------------------------------------------ reads

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, LoadedJob]:
        keys = [(job_pk(job_id), JOB_SK) for job_id in job_ids]
        items = self._batch_get(self._jobs, keys)
        return {
            item.job_id: LoadedJob(Job.model_validate_json(item.record), item.version, item.updated_at)
            for item in items
        }

    def find_runs(self, keys: Collection[RunKey]) -> dict[RunKey, RunLink]:
        by_pk = {run_pk(key): key for key in keys}
        items = self._batch_get(self._links, [(pk, LINK_SK) for pk in by_pk])
        return {
            by_pk[item.pk]: RunLink(run_id=item.run_id, job_id=item.job_id, workflow_id=item.workflow_id)
            for item in items
        }

    def parked(self, keys: Collection[RunKey]) -> list[ParkedMessage]:
        found = []
        for key in keys:
            for item in self._guard(
                lambda key=key: list(
                    self._parked.query(
                        run_pk(key), self._parked.sk.startswith(PARKED_PREFIX), consistent_read=True
                    )
                )
            ):
                found.append(
                    ParkedMessage(
                        key=key,
                        digest=item.sk.removeprefix(PARKED_PREFIX),
                        body=item.body,
                        sent_at=item.sent_at,
                        message_id=item.message_id,
                    )
                )
        return found

    def load_value(self, job_id: str, reported: Reported) -> Reported:
        if reported.held is None:
            return reported
        parts = self._guard(
            lambda: list(
                self._blobs.query(
                    job_pk(job_id),
                    self._blobs.sk.startswith(f"{BLOB_PREFIX}{reported.held}#"),
                    consistent_read=True,
                )
            )
        )
        chunks = sorted((p for p in parts if p.digest == reported.digest), key=lambda p: p.part)
        if not chunks or len(chunks) != chunks[0].parts:
            raise StorageUnavailable(f"value {reported.held} of job {job_id} is incomplete")
        return Reported.model_validate_json(zlib.decompress(b"".join(c.data for c in chunks)))

    # ------------------------------------------------------------------ writes

    def park(self, key: RunKey, messages: Sequence[ParkedMessage], now: float) -> None:
        link = self._links
        for start in range(0, len(messages), TRANSACTION_ITEMS - 1):
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.condition_check(
                        link, run_pk(key), LINK_SK, condition=link.pk.does_not_exist()
                    )
                    for message in messages[start : start + TRANSACTION_ITEMS - 1]:
                        transaction.save(
                            self._parked(
                                run_pk(key),
                                f"{PARKED_PREFIX}{message.digest}",
                                body=message.body,
                                sent_at=message.sent_at,
                                message_id=message.message_id,
                                parked_at=now,
                                expires_at=datetime.fromtimestamp(now + PARKED_TTL_SECONDS, UTC),
                            )
                        )
            except TransactWriteError as exc:
                if _failed_conditions(exc) == [0]:
                    raise RunAlreadyLinked(key.value) from exc
                raise _unavailable(exc) from exc

    def discard_parked(self, messages: Sequence[ParkedMessage]) -> None:
        def write() -> None:
            with self._parked.batch_write() as batch:
                for message in messages:
                    batch.delete(self._parked(run_pk(message.key), f"{PARKED_PREFIX}{message.digest}"))

        self._guard(write)

    def save_job(self, loaded: LoadedJob, job: Job, links: Sequence[RunLink], now: float) -> LoadedJob:
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
            created_at=stored.createdAt,
            updated_at=now,
            record=stored.model_dump_json(),
        )
        if loaded.version is not None:
            item.version = loaded.version
        if len(item.record) > JOB_ITEM_LIMIT:
            raise JobTooLarge(job.jobId, len(item.record))

        blob_items = [
            blob for name, reported in blobs.items() for blob in self._blob_items(job.jobId, name, reported)
        ]
        link_items = [(key, link) for link in links for key in link.lookup_keys()]
        if not blob_items and not link_items:
            try:
                item.save()
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    raise StaleJob(job.jobId) from exc
                raise _unavailable(exc) from exc
            return LoadedJob(stored, item.version, now)

        if len(blob_items) + len(link_items) + 1 > TRANSACTION_ITEMS:
            # Held values are idempotent (named and checked by digest): write them ahead.
            self._guard(lambda: self._write_all(blob_items))
            blob_items = []
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(item)
                for key, link in link_items:
                    transaction.save(
                        self._links(
                            run_pk(key),
                            LINK_SK,
                            job_id=link.job_id,
                            run_id=link.run_id,
                            workflow_id=link.workflow_id,
                        ),
                        condition=self._links.pk.does_not_exist() | (self._links.job_id == link.job_id),
                    )
                for blob in blob_items:
                    transaction.save(blob)
        except TransactWriteError as exc:
            failed = _failed_conditions(exc)
            if 0 in failed or _conflicted(exc):
                raise StaleJob(job.jobId) from exc
            if failed:
                key, link = link_items[failed[0] - 1]
                owner = self.find_runs([key]).get(key)
                raise RunClaimed(key.value, owner.job_id if owner else "?") from exc
            raise _unavailable(exc) from exc
        return LoadedJob(stored, item.version, now)

    # ------------------------------------------------------------------ helpers

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

    def _write_all(self, items: Sequence[BlobItem]) -> None:
        with self._blobs.batch_write() as batch:
            for blob in items:
                batch.save(blob)

    def _batch_get(self, record: Any, keys: list[tuple[str, str]]) -> list[Any]:
        found: list[Any] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            chunk = keys[start : start + BATCH_GET_KEYS]
            found += self._guard(lambda chunk=chunk: list(record.batch_get(chunk, consistent_read=True)))
        return found

    @staticmethod
    def _guard(call: Any) -> Any:
        try:
            return call()
        except PynamoDBException as exc:
            raise _unavailable(exc) from exc


def _failed_conditions(exc: TransactWriteError) -> list[int]:
    return [
        index
        for index, reason in enumerate(exc.cancellation_reasons)
        if reason is not None and reason.code == "ConditionalCheckFailed"
    ]


def _conflicted(exc: TransactWriteError) -> bool:
    return exc.cause_response_code == "TransactionConflictException" or any(
        reason is not None and reason.code == "TransactionConflict" for reason in exc.cancellation_reasons
    )


def _unavailable(exc: PynamoDBException) -> StorageUnavailable:
    return StorageUnavailable(
        f"{type(exc).__name__}: {exc.cause_response_code or ''} {exc.msg or ''}".strip()
    )
