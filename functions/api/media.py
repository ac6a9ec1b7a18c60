"""The stack's media bucket as a browser app reaches it: direct uploads (a presigned POST form that
S3 itself holds to a size cap, a content type and a key under the caller's prefix) and
time-limited download links for a job's outputs. No AWS here: the presigner is passed in
(functions.api.media_s3 on AWS).

Each owner has two prefixes in the bucket: ``uploads/<owner key>/`` (its uploads:
``<uploadId>/<filename>``) and ``outputs/<owner key>/`` (what its jobs write there). The owner key
is a digest of the owner (no ARN or e-mail in object keys). A job may read the bucket only under
its owner's two prefixes and write only under its outputs prefix (:meth:`MediaAccess.misplaced`):
no owner reads, overwrites or links another's media. Operators may name any key.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from functions.api.playlists import MAX_PLAYLIST_BYTES, PLAYLIST_SUFFIX, AnswerTooLarge, rewrite
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
DEFAULT_FORM_SECONDS = 900
DEFAULT_LINK_SECONDS = 3600
# A form or a link is signed by the API role's session, which lasts some hours on Lambda.
MAX_SIGNED_SECONDS = 12 * 3600
DEFAULT_UPLOAD_RETENTION_DAYS = 30


class ObjectReader(Protocol):
    def read(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        """The object's first ``max_bytes`` + 1 bytes at most (more than ``max_bytes``: too big);
        None if there is no such object."""
        ...


class PlaylistNotFound(LookupError):
    pass


class PlaylistTooLarge(ValueError):
    pass


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
    upload_seconds: int = DEFAULT_FORM_SECONDS  # how long an upload form stays valid
    link_seconds: int = DEFAULT_LINK_SECONDS  # how long an output's download link stays valid


@dataclass(frozen=True)
class MediaReference:
    """A place in a bucket a job names: ``writes`` for an output, else read (input, watermark)."""

    loc: tuple[str | int, ...]
    bucket: str | None
    file: str | None
    writes: bool = False


@dataclass(frozen=True)
class UploadGrant:
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_at: float
    max_bytes: int
    input_asset: dict[str, str]  # what a job names as its input, once the form was posted
    output_prefix: str  # where the caller's jobs may write in the media bucket (as a CT file)


def owner_key(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


def uploads_prefix(owner: str) -> str:
    return f"{UPLOADS_PREFIX}{owner_key(owner)}/"


def outputs_prefix(owner: str) -> str:
    return f"{OUTPUTS_PREFIX}{owner_key(owner)}/"


class MediaAccess:
    def __init__(
        self,
        config: MediaConfig,
        presigner: Presigner,
        reader: ObjectReader,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._config = config
        self._presigner = presigner
        self._reader = reader
        self._clock = clock
        self._new_id = new_id

    @property
    def bucket(self) -> str:
        return self._config.bucket

    def upload(self, caller: Caller, content_type: str, filename: str | None) -> UploadGrant:
        """A form to POST one file to the media bucket, as ``content_type`` (already checked
        against CONTENT_TYPE), of at most ``max_upload_bytes``, within ``upload_seconds``."""
        upload_id = self._new_id()
        key = f"{uploads_prefix(caller.owner)}{upload_id}/{filename or DEFAULT_FILENAME}"
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
            output_prefix=f"/{outputs_prefix(caller.owner)}",
        )

    def misplaced(self, caller: Caller, references: list[MediaReference]) -> list[dict[str, Any]]:
        """The problems of the places in the media bucket a job names that are not its owner's:
        reads outside its uploads and outputs prefixes, writes outside its outputs prefix (the
        engine reads and writes with one role for every owner: this is what keeps them apart)."""
        if caller.operator:
            return []
        readable = (uploads_prefix(caller.owner), outputs_prefix(caller.owner))
        problems = []
        for reference in references:
            if reference.bucket != self._config.bucket or reference.file is None:
                continue
            key = reference.file.lstrip("/")
            allowed = readable[1:] if reference.writes else readable
            if not key.startswith(allowed):
                where = " or ".join(f"/{prefix}" for prefix in allowed)
                problems.append(
                    {
                        "loc": ["body", *reference.loc],
                        "msg": f"in the stack's media bucket, a job of yours "
                        f"{'writes' if reference.writes else 'reads'} only under {where}",
                        "type": "not_yours",
                    }
                )
        return problems

    def links(self, outputs: list[dict[str, Any]], owner: str | None) -> list[dict[str, Any]]:
        """``outputs`` (a job's, as its view lists them) with a download link for each object it
        wrote under its owner's outputs prefix (``url``, ``urlExpiresAt``; a job nobody owns: any
        under outputs/); others are left as they are (a bucket of yours: the API may not read it)."""
        expires_in = self._config.link_seconds
        expires_at = iso(self._clock() + expires_in)
        linked = []
        for output in outputs:
            key = self._owned_key(output, owner)
            if key is not None:
                url = self._presigner.get(self._config.bucket, key, expires_in=expires_in)
                linked.append({**output, "url": url, "urlExpiresAt": expires_at})
            else:
                linked.append(output)
        return linked

    def _owned_key(self, output: dict[str, Any], owner: str | None) -> str | None:
        """The key of an output the API may link: in the stack's media bucket, under its owner's
        outputs prefix (a job nobody owns: anywhere under outputs/)."""
        key = output.get("key")
        prefix = outputs_prefix(owner) if owner else OUTPUTS_PREFIX
        ours = output.get("bucket") == self._config.bucket and isinstance(key, str)
        return str(key) if ours and str(key).startswith(prefix) else None

    def playlist(self, outputs: list[dict[str, Any]], owner: str | None, key: str) -> str:
        """The HLS playlist at ``key`` with every object it names presigned (playlists.rewrite). Only
        a playlist in the folder (or below) of one of the job's linked outputs, in the stack's media
        bucket: the folder an output of the job wrote, never another's."""
        prefix = outputs_prefix(owner) if owner else OUTPUTS_PREFIX
        keys = (self._owned_key(output, owner) for output in outputs)
        # An output written straight under the prefix: its folder would be every job's.
        folders = {posixpath.dirname(key) + "/" for key in keys if key is not None} - {prefix}
        within = next((folder for folder in sorted(folders) if key.startswith(folder)), None)
        if within is None or not key.endswith(PLAYLIST_SUFFIX) or posixpath.normpath(key) != key:
            raise PlaylistNotFound(f"{key} is not a playlist of this job's outputs")
        body = self._reader.read(self._config.bucket, key, max_bytes=MAX_PLAYLIST_BYTES)
        if body is None:
            raise PlaylistNotFound(f"{key} does not exist (yet)")
        if len(body) > MAX_PLAYLIST_BYTES:
            raise PlaylistTooLarge(f"{key} is over {MAX_PLAYLIST_BYTES} bytes")
        expires_in = self._config.link_seconds

        def link(target: str) -> str:
            return self._presigner.get(self._config.bucket, target, expires_in=expires_in)

        try:
            return rewrite(body.decode("utf-8", "replace"), key, within=within, link=link)
        except AnswerTooLarge as exc:
            raise PlaylistTooLarge(str(exc)) from exc
