"""Faster moto for long local runs (at moto's edge; project code is unchanged, moto's semantics kept).

* DynamoDB: moto deep-copies every table a ``TransactWriteItems`` touches before running it, so
  that it can roll back on failure: the cost of a transaction grows with the size of the table,
  which makes long runs quadratic. ``item_level_transaction_rollback`` keeps moto's implementation
  and rollback semantics but snapshots only the items the transaction touches (and the stream
  records it adds), and puts them back if the transaction fails.
* SQS: moto asks a naive UTC ``datetime`` for the time several times per message in the queue
  on every send and receive, and checks each received message's retention by computing all the
  queue's attributes (three passes over the queue per message). ``fast_sqs`` gives moto's SQS the
  same clock from ``time.time()`` and reads the retention period from the queue itself.
* The server: moto lists its package directory on disk for every request to find the service;
  ``cached_service_names`` lists it once.

And one correction, which is not a speed-up: moto's SQS queue appends a sent message under its
lock, but ``delete_message`` rebuilds the queue's list from a snapshot without it, and
``receive_message`` marks and dead-letters messages without it. On a threaded server, a delete
running beside another delete and a send drops the sent message (and brings the other deleted one
back): the chaos run lost messages that way, one run in twenty on a loaded machine.
``thread_safe_sqs`` runs both under the queue's own lock (a condition whose long-poll wait releases
it, so long polls do not hold senders up).
"""

from __future__ import annotations

import copy
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto import backends
from moto.core import utils as moto_utils
from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.sqs import models as sqs_models

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


def _unix_time(dt: Any = None) -> float:
    return time.time() if dt is None else moto_utils.unix_time(dt)


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else moto_utils.unix_time_millis(dt)


def _within_retention(self: Any, queue_name: str, message: Any) -> bool:
    retention_period = self.get_queue(queue_name).message_retention_period
    return bool(retention_period + message.sent_timestamp / 1000 > time.time())


@contextmanager
def fast_sqs() -> Iterator[None]:
    with (
        mock.patch.object(sqs_models, "unix_time", _unix_time),
        mock.patch.object(sqs_models, "unix_time_millis", _unix_time_millis),
        mock.patch.object(
            sqs_models.SQSBackend, "is_message_valid_based_on_retention_period", _within_retention
        ),
    ):
        yield


@contextmanager
def thread_safe_sqs() -> Iterator[None]:
    delete, receive = sqs_models.Queue.delete_message, sqs_models.SQSBackend.receive_message

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            delete(self, receipt_handle)

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        # The main queue's lock, then (moving a message to the DLQ) the DLQ's: always that order.
        with self.get_queue(queue_name)._messages_lock:
            return receive(self, queue_name, *args, **kwargs)

    with (
        mock.patch.object(sqs_models.Queue, "delete_message", delete_message),
        mock.patch.object(sqs_models.SQSBackend, "receive_message", receive_message),
    ):
        yield


@contextmanager
def cached_service_names() -> Iterator[None]:
    names = tuple(backends.list_of_moto_modules())

    def listed_once() -> tuple[str, ...]:  # a function, not a Mock: a Mock records every call
        return names

    with mock.patch.object(backends, "list_of_moto_modules", listed_once):
        yield


@contextmanager
def faster_moto() -> Iterator[None]:
    """Every speed-up here, and the SQS correction, for an embedded moto server's lifetime."""
    with item_level_transaction_rollback(), fast_sqs(), thread_safe_sqs(), cached_service_names():
        yield
