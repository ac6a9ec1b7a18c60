"""The stack's media bucket as a browser app reaches it: direct uploads (a presigned POST form that
S3 itself holds to a size cap, a content type and a key under the caller's prefix) and
time-limited download links for a job's outputs. No AWS here: the presigner is passed in
(functions.api.media_s3 on AWS).

An upload's key is ``uploads/<owner key>/<uploadId>/<filename>``: the owner key is a digest of the
owner (no ARN or e-mail in object keys), so one owner's uploads share a prefix that another
owner's job may not name as its input (:meth:`MediaAccess.foreign_upload`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from functions.jobs.model import iso
from functions.jobs.owners import Caller

UPLOADS_PREFIX = "uploads/"
OUTPUTS_PREFIX = "outputs/"
# What an upload may be, by its content type's family: the job input type it makes.
INPUT_TYPES = {"video": "VIDEO", "audio": "AUDIO", "image": "IMAGE"}
CONTENT_TYPE = r"^(video|audio|image)/[A-Za-z0-9][A-Za-z0-9.+-]{0,99}$"
FILENAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
DEFAULT_FILENAME = "source"
MAX_UPLOAD_BYTES = 5 * 1024**3  # S3's limit for a single POST upload


class Presigner(Protocol):
    def post(
        self, bucket: str, key: str, *, fields: dict[str, str], conditions: list[Any], expires_in: int
    ) -> dict[str, Any]:
        """A presigned POST: ``{"url": ..., "fields": {...}}``."""
        ...

    def get(self, bucket: str, key: str, *, expires_in: int) -> str:
        """A presigned GET URL."""
        ...


@dataclass(frozen=True)
class MediaConfig:
    bucket: str
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    upload_seconds: int = 900  # how long an upload form stays valid
    link_seconds: int = 3600  # how long an output's download link stays valid


@dataclass(frozen=True)
class UploadGrant:
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_at: float
    max_bytes: int
    input_asset: dict[str, str]  # what a job names as its input, once the form was posted


def owner_key(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


class MediaAccess:
    def __init__(
        self,
        config: MediaConfig,
        presigner: Presigner,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._config = config
        self._presigner = presigner
        self._clock = clock
        self._new_id = new_id

    @property
    def bucket(self) -> str:
        return self._config.bucket

    def upload(self, caller: Caller, content_type: str, filename: str | None) -> UploadGrant:
        """A form to POST one file to the media bucket, as ``content_type`` (already checked
        against CONTENT_TYPE), of at most ``max_upload_bytes``, within ``upload_seconds``."""
        upload_id = self._new_id()
        key = f"{UPLOADS_PREFIX}{owner_key(caller.owner)}/{upload_id}/{filename or DEFAULT_FILENAME}"
        expires_in = self._config.upload_seconds
        form = self._presigner.post(
            self._config.bucket,
            key,
            fields={"Content-Type": content_type},
            conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, self._config.max_upload_bytes],
            ],
            expires_in=expires_in,
        )
        return UploadGrant(
            upload_id=upload_id,
            url=str(form["url"]),
            fields={str(k): str(v) for k, v in form["fields"].items()},
            expires_at=self._clock() + expires_in,
            max_bytes=self._config.max_upload_bytes,
            input_asset={
                "type": INPUT_TYPES[content_type.split("/", 1)[0]],
                "bucket": self._config.bucket,
                "file": f"/{key}",
            },
        )

    def foreign_upload(self, caller: Caller, bucket: str | None, file: str | None) -> bool:
        """Whether ``bucket``/``file`` is another owner's upload (an operator may name any)."""
        if caller.operator or bucket != self._config.bucket or file is None:
            return False
        key = file.lstrip("/")
        return key.startswith(UPLOADS_PREFIX) and not key.startswith(
            f"{UPLOADS_PREFIX}{owner_key(caller.owner)}/"
        )

    def links(self, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``outputs`` (a job's, as its view lists them) with a download link for each object this
        stack wrote to its media bucket (``url``, ``urlExpiresAt``); others are left as they are
        (a bucket of yours: the API may not read it)."""
        expires_in = self._config.link_seconds
        expires_at = iso(self._clock() + expires_in)
        linked = []
        for output in outputs:
            key = output.get("key")
            ours = output.get("bucket") == self._config.bucket and isinstance(key, str)
            if ours and str(key).startswith(OUTPUTS_PREFIX):
                url = self._presigner.get(self._config.bucket, str(key), expires_in=expires_in)
                linked.append({**output, "url": url, "urlExpiresAt": expires_at})
            else:
                linked.append(output)
        return linked
