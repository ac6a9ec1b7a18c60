"""Faults AWS produces, injected where they come from: at moto's edge (its WSGI app), between the
SDK and the service, so the project's code meets them exactly as it would in AWS.

* DynamoDB throttling: a share of requests is answered ``ProvisionedThroughputExceededException``
  (``TransactionConflictException`` for transactions) and not applied.
* Conditional-check conflicts: before a share of conditional writes of a job item, a competing
  writer really updates that item (its version moves on, its content does not), so the write's
  condition really fails, as when another tracker got there first.
* Lost responses: a share of writes is applied, then answered ``InternalServerError`` (the SDK
  retries a write that already happened).
* SQS send failures: the next sends to a named queue are answered ``ServiceUnavailable``.

A tracker invocation killed mid-batch is not an edge fault: ``MortalStore`` kills the invocation
(after or before a write) from inside, and the event source then leaves its messages to SQS.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from functions.store.base import JobStore
from functions.store.layout import JOB_SK

_DYNAMODB = "DynamoDB_20120810."
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass(frozen=True)
class FaultPlan:
    """The share of DynamoDB requests (or, for ``kill``, of store writes) each fault hits."""

    throttle: float = 0.0
    conflict: float = 0.0
    lost_response: float = 0.0
    kill: float = 0.0
    seed: int = 7

    @property
    def any(self) -> bool:
        return any((self.throttle, self.conflict, self.lost_response, self.kill))


def _error(start_response: Any, status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)])
    return [body]


class FaultyEdge:
    """WSGI middleware in front of moto's app: passes everything through until ``inject`` sets a
    plan or ``fail_sends`` names a queue. ``injected`` counts what was injected, by kind."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.inject(FaultPlan())
        self.fail_sends: Counter[str] = Counter()  # queue name -> sends left to fail
        self.injected: Counter[str] = Counter()

    def inject(self, plan: FaultPlan) -> None:
        self._rng = random.Random(plan.seed)
        self.plan = plan

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(_DYNAMODB) and self.plan.any:
            return self._dynamodb(target.removeprefix(_DYNAMODB), environ, start_response)
        if target == "AmazonSQS.SendMessage" and self.fail_sends:
            return self._sqs_send(environ, start_response)
        return self._app(environ, start_response)

    def _chance(self, share: float) -> bool:
        with self._lock:
            return share > 0 and self._rng.random() < share

    def _dynamodb(self, operation: str, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        plan = self.plan
        if self._chance(plan.throttle):
            if operation == "TransactWriteItems":  # how DynamoDB turns a transaction away
                self.injected["transaction_conflicts"] += 1
                return _error(start_response, "400 Bad Request", "TransactionConflictException", "injected")
            self.injected["throttled"] += 1
            return _error(
                start_response, "400 Bad Request", "ProvisionedThroughputExceededException", "injected"
            )
        body = _read_body(environ)
        if operation in _WRITES and self._chance(plan.conflict):
            key = _conditional_job_write(operation, json.loads(body or b"{}"))
            if key is not None and self._compete(environ, *key):
                self.injected["conflicts"] += 1
        if operation in _WRITES and self._chance(plan.lost_response):
            self.injected["lost_responses"] += 1
            list(self._app(environ, lambda *args: None))  # applied; the answer never arrives
            return _error(start_response, "500 Internal Server Error", "InternalServerError", "injected")
        return self._app(environ, start_response)

    def _compete(self, environ: dict[str, Any], table: str, key: dict[str, Any]) -> bool:
        """Another writer updates the job item first: same content, the next version."""
        update = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET #v = #v + :one",
            "ConditionExpression": "attribute_exists(#v)",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
        competing = {
            **environ,
            "HTTP_X_AMZ_TARGET": f"{_DYNAMODB}UpdateItem",
            "CONTENT_LENGTH": "",
        }
        status: list[str] = []
        _set_body(competing, json.dumps(update).encode())
        list(self._app(competing, lambda code, headers, *rest: status.append(code)))
        return bool(status) and status[0].startswith("200")

    def _sqs_send(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = _read_body(environ)
        queue = json.loads(body or b"{}").get("QueueUrl", "").rsplit("/", 1)[-1]
        with self._lock:
            failing = self.fail_sends[queue] > 0
            if failing:
                self.fail_sends[queue] -= 1
                if not self.fail_sends[queue]:
                    del self.fail_sends[queue]
        if not failing:
            return self._app(environ, start_response)
        self.injected["failed_sends"] += 1
        answer = json.dumps({"__type": "com.amazonaws.sqs#ServiceUnavailable", "message": "injected"})
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "ServiceUnavailable;Receiver"),
        ]
        start_response("503 Service Unavailable", headers)
        return [answer.encode()]


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so the app (or a replay) can read it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    _set_body(environ, body)
    return bytes(body)


def _set_body(environ: dict[str, Any], body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _conditional_job_write(operation: str, request: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(table, key) of the job item a conditional write targets, if it is one."""
    writes: Sequence[dict[str, Any]]
    if operation == "TransactWriteItems":
        writes = [next(iter(w.values())) for w in request.get("TransactItems", [])][:1]
    else:
        writes = [request]
    for write in writes:
        item = write.get("Item") or write.get("Key") or {}
        if write.get("ConditionExpression") and item.get("sk", {}).get("S") == JOB_SK:
            return write["TableName"], {"pk": item["pk"], "sk": item["sk"]}
    return None


# A BaseException: no handler may catch a death and carry on.
class InvocationKilled(BaseException):
    """The invocation's process died (timeout, out of memory, a host failure)."""


_STORE_WRITES = frozenset({"park", "discard_parked", "save_job", "delete_job"})


class MortalStore:
    """A job store whose invocation may die at any write: before it, or just after it landed."""

    def __init__(self, store: JobStore, share: float, seed: int = 7) -> None:
        self._store = store
        self._share = share
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.kills = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if name not in _STORE_WRITES or not self._share:
            return method

        def mortal(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                roll, after = self._rng.random(), self._rng.random() < 0.5
            if roll < self._share and not after:
                self._die(name, "before")
            result = method(*args, **kwargs)
            if roll < self._share and after:
                self._die(name, "after")
            return result

        return mortal

    def _die(self, write: str, when: str) -> None:
        with self._lock:
            self.kills += 1
        raise InvocationKilled(f"killed {when} {write}")


def surviving(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The handler as its event source sees it: a killed invocation is an invocation that failed
    without an answer (its whole batch is left to SQS)."""

    def invoke(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except InvocationKilled as death:
            raise RuntimeError(f"invocation died: {death}") from None

    return invoke
