"""Reading the jobs table's stream in your own function: each record's job items as typed values.

The contract is ``docs/job-stream.schema.json`` (``schemaVersion`` 1). Records of the table's
internal items (run links, parked messages, big values, idempotency keys) are skipped, so this
works behind any filter, or none::

    from cpe_client.stream import parse_event

    def handler(event, context):
        for change in parse_event(event):
            if change.job and change.job.status == "COMPLETED" and change.status_changed:
                notify(change.job.job_id, change.job.owner)

Records come as Lambda gives them (``Records[].dynamodb.NewImage`` in DynamoDB's typed JSON) or
as DynamoDB Streams' ``GetRecords`` gives them (the same shape, with dates as ``datetime``).
No dependency beyond the standard library.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

SCHEMA_VERSION = 1  # the contract version this parser reads
JOB_SORT_KEY = "JOB"


class StreamRecordError(ValueError):
    """A job item that does not follow the contract, or follows a newer major version of it."""


@dataclass(frozen=True)
class StreamJob:
    """A job item's public attributes (docs/job-stream.schema.json)."""

    job_id: str
    status: str
    phase: str
    progress: int
    created_at: datetime
    updated_at: datetime
    version: int
    schema_version: int
    client_name: str | None = None
    owner: str | None = None
    run_id: str | None = None
    workflow_id: str | None = None
    error_reason: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in ("COMPLETED", "FAILED", "CANCELED", "TIMED_OUT")


@dataclass(frozen=True)
class JobChange:
    """One write of a job item: ``job`` as written (None when the item was removed), and
    ``previous`` as it was (None when the item was created, or the stream keeps no old images)."""

    event_id: str
    event_name: str  # INSERT, MODIFY or REMOVE
    job: StreamJob | None
    previous: StreamJob | None

    @property
    def job_id(self) -> str:
        return (self.job or self.previous).job_id  # type: ignore[union-attr]  # one is set

    @property
    def status_changed(self) -> bool:
        before = self.previous.status if self.previous else None
        after = self.job.status if self.job else None
        return before != after


def parse_event(event: Mapping[str, Any]) -> list[JobChange]:
    """The job changes of a Lambda DynamoDB stream event, in order; other items' records skipped."""
    return parse_records(event.get("Records") or [])


def parse_records(records: Iterable[Mapping[str, Any]]) -> list[JobChange]:
    return [change for record in records if (change := parse_record(record)) is not None]


def parse_record(record: Mapping[str, Any]) -> JobChange | None:
    """The job change of one stream record, or None for an internal item's record.

    Raises :class:`StreamRecordError` for a job item that breaks the contract (report it as a
    batch item failure: the record then goes to the subscription's on-failure queue)."""
    stream = record.get("dynamodb") or {}
    keys = deserialize(stream.get("Keys") or {})
    if keys.get("sk") != JOB_SORT_KEY:
        return None
    new = stream.get("NewImage")
    old = stream.get("OldImage")
    return JobChange(
        event_id=str(record.get("eventID", "")),
        event_name=str(record.get("eventName", "")),
        job=parse_image(deserialize(new)) if new else None,
        previous=parse_image(deserialize(old)) if old else None,
    )


def parse_image(image: Mapping[str, Any]) -> StreamJob:
    """A deserialized job item (plain values, as boto3's TypeDeserializer or Powertools give)."""
    version = _integer(image, "schemaVersion", default=0)
    if version > SCHEMA_VERSION:
        raise StreamRecordError(
            f"job item schemaVersion {version}: this parser reads {SCHEMA_VERSION}; upgrade cpe-client"
        )
    try:
        return StreamJob(
            job_id=_text(image, "jobId"),
            status=_text(image, "status"),
            phase=_text(image, "phase"),
            progress=_integer(image, "progress"),
            created_at=_time(image, "createdAt"),
            updated_at=_time(image, "updatedAt"),
            version=_integer(image, "version"),
            schema_version=version,
            client_name=_text(image, "clientName", optional=True),
            owner=_text(image, "owner", optional=True),
            run_id=_text(image, "runId", optional=True),
            workflow_id=_text(image, "workflowId", optional=True),
            error_reason=_text(image, "errorReason", optional=True),
        )
    except KeyError as missing:
        raise StreamRecordError(f"job item without {missing}") from None


def deserialize(typed: Mapping[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed JSON (``{"S": "x"}``) as plain values; numbers as Decimal."""
    return {name: _value(value) for name, value in typed.items()}


def _value(typed: Mapping[str, Any]) -> Any:
    if not isinstance(typed, Mapping) or len(typed) != 1:
        raise StreamRecordError(f"not a DynamoDB attribute value: {typed!r:.80}")
    ((kind, value),) = typed.items()
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "B":
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    if kind == "M":
        return deserialize(value)
    if kind == "L":
        return [_value(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {Decimal(v) for v in value}
    if kind == "BS":
        return {base64.b64decode(v) if isinstance(v, str) else bytes(v) for v in value}
    raise StreamRecordError(f"unknown DynamoDB type {kind!r}")


def _text(image: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    if name not in image and optional:
        return None
    value = image[name]
    if not isinstance(value, str):
        raise StreamRecordError(f"job item {name} is not a string: {value!r:.80}")
    return value


def _integer(image: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    if name not in image and default is not None:
        return default
    value = image[name]
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value):
        raise StreamRecordError(f"job item {name} is not an integer: {value!r:.80}")
    return int(value)


def _time(image: Mapping[str, Any], name: str) -> datetime:
    value = image[name]
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)  # items written before schemaVersion 1
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise StreamRecordError(f"job item {name} is not an RFC 3339 time: {value!r:.80}")
