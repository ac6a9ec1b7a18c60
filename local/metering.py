"""What the local stack's functions use, as AWS would bill it: each function's invocations and CPU
time, and every AWS request it makes (service, operation, items and bytes), attributed to the
function whose invocation made it. For the cost benchmark (bench.cost).

Handlers run in this process, each invocation in one thread: a thread-local names the function,
and a hook on botocore's client (which PynamoDB and boto3 use too) counts the requests. Requests
made outside any invocation (the event sources' polling, a test's own calls) are attributed to
``OUTSIDE``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import botocore.client

OUTSIDE = "(outside any function)"
Handler = Callable[[Any, Any], Any]


@dataclass
class FunctionUsage:
    invocations: int = 0
    thread_cpu: float = 0.0  # the invocation thread's CPU time (a Python handler's own work)
    process_cpu: float = 0.0  # the process's during the invocations (counts encoder threads too)
    wall: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> calls
    idle_receives: int = 0  # ReceiveMessage calls that returned nothing
    events: int = 0  # EventBridge entries put
    write_units: float = 0.0  # DynamoDB write request units (1 KB an item; 2x in a transaction)
    read_units: float = 0.0  # DynamoDB read request units (4 KB an item, consistent; 2x in a transaction)


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = threading.local()
        self.usage: dict[str, FunctionUsage] = defaultdict(FunctionUsage)

    def wrap(self, name: str, handler: Handler) -> Handler:
        def metered(event: Any, context: Any) -> Any:
            self._current.name = name
            began = (time.thread_time(), time.process_time(), time.perf_counter())
            try:
                return handler(event, context)
            finally:
                ended = (time.thread_time(), time.process_time(), time.perf_counter())
                self._current.name = None
                with self._lock:
                    usage = self.usage[name]
                    usage.invocations += 1
                    usage.thread_cpu += ended[0] - began[0]
                    usage.process_cpu += ended[1] - began[1]
                    usage.wall += ended[2] - began[2]

        return metered

    @contextmanager
    def counting_requests(self) -> Iterator[Meter]:
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            response = original(client, operation, params)
            service = client.meta.service_model.service_name
            meter.record(service, operation, params, response)
            return response

        with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counted):
            yield self

    def record(self, service: str, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        name = getattr(self._current, "name", None) or OUTSIDE
        with self._lock:
            usage = self.usage[name]
            if operation == "ReceiveMessage" and not response.get("Messages"):
                usage.idle_receives += 1
                return
            usage.requests[f"{service}:{operation}"] += 1
            if service == "dynamodb":
                writes, reads = _dynamodb_units(operation, params, response)
                usage.write_units += writes
                usage.read_units += reads
            elif service == "events" and operation == "PutEvents":
                usage.events += len(params.get("Entries", []))


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size about as DynamoDB counts it (names and values; binary values by length)."""
    return len(json.dumps(item, separators=(",", ":"), default=lambda value: "x" * len(value)))


def _kilobytes(item: dict[str, Any], unit: int) -> int:
    """Request units of one item: its size in units, at least one."""
    return max(1, -(-item_bytes(item) // unit))


def _dynamodb_units(operation: str, params: dict[str, Any], response: dict[str, Any]) -> tuple[float, float]:
    if operation in ("PutItem", "DeleteItem"):
        return float(_kilobytes(params.get("Item") or params.get("Key") or {}, 1024)), 0.0
    if operation == "UpdateItem":
        return float(_kilobytes(params.get("Key", {}), 1024) + 1), 0.0  # small updates: about 1-2 KB
    if operation == "BatchWriteItem":
        requests = [r for table in params["RequestItems"].values() for r in table]
        return sum(
            _kilobytes(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"], 1024)
            for r in requests
        ), 0.0
    if operation == "TransactWriteItems":
        bodies = [body for entry in params["TransactItems"] for body in entry.values()]
        return 2.0 * sum(_kilobytes(body.get("Item") or body.get("Key") or {}, 1024) for body in bodies), 0.0
    if operation == "GetItem":
        return 0.0, float(_kilobytes(response.get("Item") or {}, 4096))
    if operation == "BatchGetItem":
        items = [i for table in response.get("Responses", {}).values() for i in table]
        return 0.0, float(sum(_kilobytes(i, 4096) for i in items) or 1)
    if operation in ("Query", "Scan"):
        size = sum(item_bytes(i) for i in response.get("Items", []))
        return 0.0, float(max(1, -(-size // 4096)))
    return 0.0, 0.0
