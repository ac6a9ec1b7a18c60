"""A Python client and CLI for the job API: SigV4-signed (IAM auth) or with a bearer token (JWT
auth), against a deployed stack or the local one alike. ``cpe_client.stream`` (the table's stream
records) needs only the standard library: the client, which needs botocore, loads on first use."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "JobsClient"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cpe_client import client  # noqa: PLC0415 - botocore only when the client is used

        return getattr(client, name)
    raise AttributeError(f"module 'cpe_client' has no attribute {name!r}")
