"""The functions' AWS SDK clients: built from one botocore session per execution environment (a
session loads the SDK's data files once; each boto3 client would load its own), with bounded
retries and timeouts, and an error classifier shared by every adapter."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# The error codes AWS services answer when they ask the caller to slow down.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
# One session per thread: a Lambda sandbox runs one thread, so its clients share one session; a
# botocore session is not safe to create clients from in several threads at once (the local stack).
_local = threading.local()


class _Session(botocore.session.Session):  # type: ignore[misc]
    """botocore's session, remembering the clients it made, whoever asked (PynamoDB too)."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        made = super().create_client(*args, **kwargs)
        self.clients.add(made)
        return made


def session() -> _Session:
    """This thread's botocore session (the SDK's data files are loaded once per session)."""
    current: _Session | None = getattr(_local, "session", None)
    if current is None:
        current = _local.session = _Session()
    return current


def close_connections() -> int:
    """Close the pooled connections of every client this thread's session made; they stay usable
    and connect again at their next call. Before a SnapStart snapshot: a connection is not
    guaranteed to survive a restore, and a dead one would cost a request its read timeout."""
    clients = list(session().clients)
    for made in clients:
        made.close()
    return len(clients)


def boto3_session() -> Any:
    """This thread's boto3 session, on :func:`session` (for boto3's managed S3 transfers). One per
    botocore session: each boto3 session registers its handlers on the botocore session it wraps,
    and a second one fails ("Cannot inject class attribute")."""
    current = getattr(_local, "boto3_session", None)
    if current is None or current._session is not session():
        import boto3  # noqa: PLC0415 - only the engine's transfers need boto3

        current = _local.boto3_session = boto3.session.Session(botocore_session=session())
    return current


def client(
    service: str, *, region: str | None = None, endpoint: str | None = None, config: Config | None = None
) -> Any:
    """A client of ``service``; ``endpoint`` for the local stack and tests (None: AWS's); ``config``
    adds to the bounded retries and timeouts."""
    merged = _CONFIG.merge(config) if config is not None else _CONFIG
    return session().create_client(service, region_name=region, endpoint_url=endpoint, config=merged)


def error_code(error: BaseException) -> str:
    """The service's error code of a failed call ("" when none answered)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttling(code: str) -> bool:
    return code in THROTTLING_CODES


# Codes S3 and others answer for a failure of theirs that a later attempt may not meet.
_PASSING_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable", "SlowDown", "503"})


def is_transient(error: BaseException) -> bool:
    """A failure worth trying again: throttling, a server-side error (5xx), a lost connection or
    a timeout; not a client error (4xx) such as a missing object or access denied."""
    if isinstance(error, BotoCoreError):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error_code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return is_throttling(code) or code in _PASSING_CODES or status >= 500


def describe(error: BotoCoreError | ClientError) -> str:
    code = error_code(error)
    return code or f"unreachable: {type(error).__name__}"
