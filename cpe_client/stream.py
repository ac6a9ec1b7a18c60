"""Reading the jobs table's stream in your own function: each record's job items as typed values.

The contract is ``docs/job-stream.schema.json`` (``schemaVersion`` 1). Records of the table's
internal items (run links, parked messages, big values, idempotency keys) are skipped, so this
works behind any filter, or none::

    from cpe_client.stream import StreamRecordError, parse_record

    def handler(event, context):
        failures = []
        for record in event["Records"]:
            try:
                change = parse_record(record)
                if change and change.job and change.status_changed and change.job.status == "COMPLETED":
                    notify(change.job.job_id, change.job.owner)
            except StreamRecordError:  # breaks the contract: report it (logged, kept)
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failures}

Records come as Lambda gives them (``Records[].dynamodb.NewImage`` in DynamoDB's typed JSON) or
as DynamoDB Streams' ``GetRecords`` gives them (the same shape, with dates as ``datetime``).
No dependency beyond the standard library. De-duplicate on (job id, ``created_at``, ``version``):
a job whose submission failed is removed, and its id may be submitted again from version 1.
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
MAX_INTEGER = {"progress": 100}  # others: 2**63


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
    sequence_number: str  # the record's; a partial batch failure's ``itemIdentifier``
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
    """The job changes of a Lambda DynamoDB stream event, in order; other items' records skipped.
    Raises :class:`StreamRecordError` at the first bad record: to fail only that record, parse
    each with :func:`parse_record` (above)."""
    return parse_records(event.get("Records") or [])


def parse_records(records: Iterable[Mapping[str, Any]]) -> list[JobChange]:
    return [change for record in records if (change := parse_record(record)) is not None]


def parse_record(record: Mapping[str, Any]) -> JobChange | None:
    """The job change of one stream record, or None for an internal item's record.

    Raises :class:`StreamRecordError`, and only it, for a record that is not a stream record or a
    job item that breaks the contract (report it as a batch item failure)."""
    try:
        stream = record["dynamodb"]
        keys = deserialize(stream.get("Keys") or {})
        if keys.get("sk") != JOB_SORT_KEY:
            return None
        new, old = stream.get("NewImage"), stream.get("OldImage")
        if not new and not old:
            raise StreamRecordError(
                "a job item's record without images: the stream's view must be NEW_AND_OLD_IMAGES"
            )
        return JobChange(
            event_id=str(record.get("eventID", "")),
            event_name=str(record.get("eventName", "")),
            sequence_number=str(stream.get("SequenceNumber", "")),
            job=parse_image(deserialize(new)) if new else None,
            previous=parse_image(deserialize(old)) if old else None,
        )
    except StreamRecordError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, ArithmeticError, RecursionError) as error:
        raise StreamRecordError(f"not a DynamoDB stream record of a job item: {error!r:.120}") from None


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
        return _number(value)
    if kind == "BOOL":
        if not isinstance(value, bool):
            raise StreamRecordError(f"BOOL {value!r:.40} is not a boolean")
        return value
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
        return {_number(v) for v in value}
    if kind == "BS":
        return {base64.b64decode(v) if isinstance(v, str) else bytes(v) for v in value}
    raise StreamRecordError(f"unknown DynamoDB type {kind!r}")


def _number(text: Any) -> Decimal:
    if not isinstance(text, str) or len(text) > 40:  # DynamoDB numbers: 38 digits at most
        raise StreamRecordError(f"N {text!r:.40} is not a DynamoDB number")
    number = Decimal(text)
    if not number.is_finite():
        raise StreamRecordError(f"N {text!r:.40} is not finite")
    return number


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
    if not 0 <= value <= MAX_INTEGER.get(name, 2**63):
        raise StreamRecordError(f"job item {name} is out of range: {value!r:.80}")
    return int(value)


def _time(image: Mapping[str, Any], name: str) -> datetime:
    value = image[name]
    try:
        if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)  # items written before schemaVersion 1
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed
    except (ValueError, OverflowError, OSError):
        pass
    raise StreamRecordError(f"job item {name} is not an RFC 3339 time: {value!r:.80}")
