"""Where activities read inputs and write outputs: S3 (and http(s) inputs, through Sources)."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from engine.errors import Reason, aws_failure
from engine.sources import InputLimits, Sources

logger = logging.getLogger(__name__)

_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mpd": "application/dash+xml",
    ".vtt": "text/vtt",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".aac": "audio/aac",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
_TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)


def content_type(path: Path) -> str:
    return (
        _CONTENT_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    content_type: str

    def as_result(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "size": self.size, "contentType": self.content_type}


class Storage:
    def __init__(self, s3: Any, limits: InputLimits | None = None) -> None:
        self.s3 = s3
        self.sources = Sources(s3, limits)

    def put_work(self, path: Path, bucket: str, key: str) -> None:
        """Keep an intermediate file (a span, an audio track) until its join reads it."""
        try:
            self.s3.upload_file(
                str(path), bucket, key, ExtraArgs={"ServerSideEncryption": "AES256"}, Config=_TRANSFER
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, Reason.S3_OPS_FAILED, f"keeping s3://{bucket}/{key}") from exc

    def get_work(self, bucket: str, key: str, target: Path) -> Path:
        try:
            self.s3.download_file(bucket, key, str(target), Config=_TRANSFER)
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, Reason.S3_OPS_FAILED, f"reading s3://{bucket}/{key}") from exc
        return target

    def delete_work(self, bucket: str, prefix: str) -> None:
        """Remove the intermediate files under ``prefix`` (best effort: the bucket's lifecycle rule
        removes what a crash leaves)."""
        try:
            listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
            keys = [{"Key": item["Key"]} for item in listing.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        except (ClientError, BotoCoreError):
            logger.warning("could not remove the work files under s3://%s/%s", bucket, prefix, exc_info=True)

    def upload(
        self,
        path: Path,
        *,
        bucket: str,
        key: str,
        encrypt: bool,
        reduced_redundancy: bool,
        progress: Callable[[int], None],
    ) -> StoredObject:
        kind = content_type(path)
        extra: dict[str, str] = {"ContentType": kind}
        if encrypt:
            extra["ServerSideEncryption"] = "AES256"
        if reduced_redundancy:
            extra["StorageClass"] = "REDUCED_REDUNDANCY"
        try:
            self.s3.upload_file(str(path), bucket, key, ExtraArgs=extra, Callback=progress, Config=_TRANSFER)
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, Reason.S3_OPS_FAILED, f"uploading s3://{bucket}/{key}") from exc
        return StoredObject(bucket, key, path.stat().st_size, kind)
