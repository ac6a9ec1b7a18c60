"""A faster rollback for moto's DynamoDB transactions (at moto's edge; project code is unchanged).

moto deep-copies every table a ``TransactWriteItems`` touches before running it, so that it can
roll back on failure: the cost of a transaction grows with the size of the table, which makes
long local runs and benchmarks quadratic. This keeps moto's own implementation and rollback
semantics but snapshots only the items the transaction touches (and the stream records it adds),
and puts them back if the transaction fails.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_Snapshot = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _copy_all_but_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[_Snapshot]:
    snapshots = []
    for entry in transact_items:
        operation = next(iter(entry.values()))
        table = backend.tables.get(operation.get("TableName"))
        if table is None:
            continue
        key = operation.get("Key") or operation.get("Item") or {}
        if table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
            continue  # moto rejects the transaction before changing anything
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        snapshots.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return snapshots


def _restore(snapshots: list[_Snapshot], streams: dict[int, tuple[Table, int]]) -> None:
    for table, hash_key, range_key, item in reversed(snapshots):
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item  # type: ignore[assignment]  # moto types range tables only
        elif item is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    for table, length in streams.values():
        if table.stream_shard is not None:
            del table.stream_shard.items[length:]


@contextmanager
def item_level_transaction_rollback() -> Iterator[None]:
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots = _snapshot(self, transact_items)
        streams = {
            id(table): (table, len(table.stream_shard.items))
            for table, *_ in snapshots
            if table.stream_shard is not None
        }
        try:
            with mock.patch.object(models, "copy", types.SimpleNamespace(deepcopy=_copy_all_but_tables)):
                original(self, transact_items)
        except Exception:
            _restore(snapshots, streams)
            raise

    with mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact_write_items):
        yield
