"""PynamoDB records of the jobs table (one table, several item kinds; their keys in
functions.store.layout). Only the store uses them.

These classes are the single source of the table's schema: the CDK construct and the tests read
keys, indexes and the TTL attribute from here (see :func:`table_schema`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.constants import NUMBER, STRING
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from functions.jobs.model import epoch, iso
from functions.store.base import TableBinding
from functions.store.layout import (
    RECORD_ATTRIBUTE,
    SCHEMA_VERSION_ATTRIBUTE,
    UPDATED_AT_ATTRIBUTE,
    VERSION_ATTRIBUTE,
)


class IsoTimeAttribute(Attribute[float]):
    """Epoch seconds kept as RFC 3339 UTC text with milliseconds, as the API writes times: stream
    consumers read them as they are (docs/job-stream.schema.json). Items written before the stream
    contract kept numbers; they are still read."""

    attr_type = STRING

    def serialize(self, value: float) -> str:
        return iso(value) or ""

    def deserialize(self, value: str) -> float:
        return epoch(value)

    def get_value(self, value: dict[str, Any]) -> Any:
        if NUMBER in value and STRING not in value:
            return iso(float(value[NUMBER]))
        return super().get_value(value)


class _Item(Model):
    class Meta:
        table_name = "unbound"  # bound per store, see bind()

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ByCreated(GlobalSecondaryIndex["JobItem"]):  # type: ignore[no-untyped-call]
    """Every job, newest first. Keys only: its keys never change, so job updates never write it."""

    class Meta:
        index_name = "byCreated"
        projection = KeysOnlyProjection()

    list_pk = UnicodeAttribute(hash_key=True, attr_name="listPk")
    created_key = UnicodeAttribute(range_key=True, attr_name="createdKey")


class ByStatus(GlobalSecondaryIndex["JobItem"]):  # type: ignore[no-untyped-call]
    """Jobs of one status, newest first. Written when a job's status changes (a few times a job)."""

    class Meta:
        index_name = "byStatus"
        projection = KeysOnlyProjection()

    status_pk = UnicodeAttribute(hash_key=True, attr_name="statusPk")
    created_key = UnicodeAttribute(range_key=True, attr_name="createdKey")


class ByOwner(GlobalSecondaryIndex["JobItem"]):  # type: ignore[no-untyped-call]
    """One owner's jobs, newest first. Sparse (a job nobody owns has no ``ownerPk``) and keys only:
    an owner never changes, so job updates never write it."""

    class Meta:
        index_name = "byOwner"
        projection = KeysOnlyProjection()

    owner_pk = UnicodeAttribute(hash_key=True, attr_name="ownerPk")
    created_key = UnicodeAttribute(range_key=True, attr_name="createdKey")


class JobItem(_Item):
    """The job. Its top-level attributes other than index keys and ``record`` are the stream's
    public contract (docs/job-stream.schema.json, ``schemaVersion``); the whole record, facts
    included, is the internal JSON document in ``record``."""

    list_pk = UnicodeAttribute(attr_name="listPk")
    status_pk = UnicodeAttribute(attr_name="statusPk")
    created_key = UnicodeAttribute(attr_name="createdKey")
    owner_pk = UnicodeAttribute(attr_name="ownerPk", null=True)
    by_created = ByCreated()
    by_status = ByStatus()
    by_owner = ByOwner()

    job_id = UnicodeAttribute(attr_name="jobId")
    status = UnicodeAttribute()
    phase = UnicodeAttribute()
    progress = NumberAttribute()
    client_name = UnicodeAttribute(attr_name="clientName", null=True)
    owner = UnicodeAttribute(null=True)
    run_id = UnicodeAttribute(attr_name="runId", null=True)
    workflow_id = UnicodeAttribute(attr_name="workflowId", null=True)
    error_reason = UnicodeAttribute(attr_name="errorReason", null=True)
    created_at = IsoTimeAttribute(attr_name="createdAt")
    updated_at = IsoTimeAttribute(attr_name=UPDATED_AT_ATTRIBUTE)
    schema_version = NumberAttribute(attr_name=SCHEMA_VERSION_ATTRIBUTE)
    record = UnicodeAttribute(attr_name=RECORD_ATTRIBUTE)
    version = VersionAttribute(attr_name=VERSION_ATTRIBUTE)


class BlobItem(_Item):
    digest = UnicodeAttribute()
    part = NumberAttribute()
    parts = NumberAttribute()
    data = BinaryAttribute(legacy_encoding=False)


class LinkItem(_Item):
    """A run key: linked to its job by WORKFLOW_SCHEDULED (``jobId`` set), and its parking version,
    bumped by every parking of messages against it. Unlinked, it expires with its parked messages."""

    job_id = UnicodeAttribute(attr_name="jobId", null=True)
    run_id = UnicodeAttribute(attr_name="runId", null=True)
    workflow_id = UnicodeAttribute(attr_name="workflowId", null=True)
    parked = NumberAttribute(null=True)
    ambiguous = BooleanAttribute(null=True)  # a workflowId that names several runs routes nothing
    expires_at = TTLAttribute(attr_name="expiresAt", null=True)


class IdempotencyItem(_Item):
    """An ``Idempotency-Key`` of POST /jobs: the job it created and the digest of the request."""

    job_id = UnicodeAttribute(attr_name="jobId")
    request_digest = UnicodeAttribute(attr_name="requestDigest")
    expires_at = TTLAttribute(attr_name="expiresAt")


class ParkedItem(_Item):
    body = UnicodeAttribute()
    sent_at = NumberAttribute(attr_name="sentAt")
    message_id = UnicodeAttribute(attr_name="messageId")
    parked_at = NumberAttribute(attr_name="parkedAt")
    expires_at = TTLAttribute(attr_name="expiresAt")


ITEM_CLASSES: tuple[type[_Item], ...] = (JobItem, BlobItem, LinkItem, IdempotencyItem, ParkedItem)

_M = TypeVar("_M", bound=Model)


def bind(record: type[_M], binding: TableBinding) -> type[_M]:
    """A subclass of ``record`` bound to a table. PynamoDB caches one connection per model class,
    so each store binds its own classes instead of mutating shared ones."""
    meta = type(
        "Meta", (), {"table_name": binding.table_name, "region": binding.region, "host": binding.host}
    )
    return type(record.__name__, (record,), {"Meta": meta, "__module__": record.__module__})


def table_schema() -> dict[str, Any]:
    """Keys and TTL attribute of the jobs table, read from the records (for CDK and tests)."""
    hash_key = _Item._hash_key_attribute()  # type: ignore[no-untyped-call]
    range_key = _Item._range_key_attribute()  # type: ignore[no-untyped-call]
    ttls = {
        attr.attr_name
        for record in ITEM_CLASSES
        for attr in record.get_attributes().values()
        if isinstance(attr, TTLAttribute)
    }
    if len(ttls) != 1:
        raise ValueError(f"the item kinds of one table must share one TTL attribute, not {sorted(ttls)}")
    return {
        "partition_key": {"name": hash_key.attr_name, "type": hash_key.attr_type},
        "sort_key": {"name": range_key.attr_name, "type": range_key.attr_type},
        "global_secondary_indexes": [
            {
                "name": index.Meta.index_name,
                "partition_key": _key(index, hash_key=True),
                "sort_key": _key(index, hash_key=False),
                "projection": "KEYS_ONLY",
            }
            for index in JobItem._indexes.values()
        ],
        "ttl_attribute": ttls.pop(),
    }


def _key(index: Any, *, hash_key: bool) -> dict[str, str]:
    attribute = next(
        attr
        for attr in index.Meta.attributes.values()
        if (attr.is_hash_key if hash_key else attr.is_range_key)
    )
    return {"name": attribute.attr_name, "type": attribute.attr_type}
