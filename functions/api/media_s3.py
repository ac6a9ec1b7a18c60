"""Presigning on S3 with the function's own credentials (its role): the role must be allowed what
the URL or form does, and a link lives at most as long as the role's session."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

# SigV4 (SigV2 is what botocore would presign with on us-east-1), on the region's own endpoint.
PRESIGNING = Config(signature_version="s3v4", s3={"us_east_1_regional_endpoint": "regional"})


class S3Presigner:
    def __init__(self, client: Callable[[], Any]) -> None:
        self._new_client = client

    @cached_property
    def _client(self) -> Any:  # built at first use: a cold start that presigns nothing skips it
        return self._new_client()

    def post(
        self, bucket: str, key: str, *, fields: dict[str, str], conditions: list[Any], expires_in: int
    ) -> dict[str, Any]:
        return dict(
            self._client.generate_presigned_post(
                Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
            )
        )

    def get(self, bucket: str, key: str, *, expires_in: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )
        )


# A missing key: S3 says 404 NoSuchKey to a role that may list the bucket, 403 AccessDenied to one
# that may not (the API's may only read its owners' outputs).
MISSING = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


class S3Reader:
    """Reads objects with the function's role (the API may read its owners' outputs)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._new_client = client

    @cached_property
    def _client(self) -> Any:
        return self._new_client()

    def read(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in MISSING:
                return None
            if code == "InvalidRange":  # an empty object has no byte 0
                return b""
            raise
        return bytes(answer["Body"].read())
