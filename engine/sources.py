"""Reading inputs: from S3 (``bucket`` + ``file``) or ``http(s)`` (SSRF-checked), either through a
ranged reader (probing reads a few hundred KB of a large file, not all of it) or downloaded whole to
a working directory (transcoding reads everything anyway)."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from engine.errors import ActivityError, Reason
from functions.jobs.payload import InputAsset
from functions.shared.urls import UnsafeUrl, check_fetchable_url

BLOCK_SIZE = 256 * 1024
CACHED_BLOCKS = 16
COPY_CHUNK = 1024 * 1024
HTTP_TIMEOUT_SECONDS = 30

Fetch = Callable[[int, int], bytes]  # (first byte, last byte) inclusive -> bytes


class RangedReader(io.RawIOBase):
    """A seekable, read-only file over ranged GETs, in blocks, with a small cache; counts what it
    fetched (``bytes_fetched``)."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        super().__init__()
        self._fetch = fetch
        self.size = size
        self._position = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.bytes_fetched = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def _block(self, index: int) -> bytes:
        if index in self._blocks:
            self._blocks.move_to_end(index)
            return self._blocks[index]
        start = index * BLOCK_SIZE
        data = self._fetch(start, min(start + BLOCK_SIZE, self.size) - 1)
        self.bytes_fetched += len(data)
        self.requests += 1
        self._blocks[index] = data
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self.size or not len(view):
            return 0
        index, offset = divmod(self._position, BLOCK_SIZE)
        chunk = self._block(index)[offset : offset + len(view)]
        view[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


@dataclass(frozen=True)
class InputRef:
    """Where an input is: an S3 object or a URL (``input_asset``)."""

    bucket: str | None = None
    key: str | None = None
    url: str | None = None

    @classmethod
    def from_asset(cls, asset: InputAsset) -> InputRef:
        if asset.bucket and asset.file:
            return cls(bucket=asset.bucket, key=asset.file.lstrip("/"))
        if asset.http:
            return cls(url=asset.http)
        raise ActivityError(Reason.INPUT_UNREACHABLE, "input_asset needs bucket and file, or http")

    @property
    def name(self) -> str:
        return self.url or f"s3://{self.bucket}/{self.key}"


class Sources:
    """Opens inputs. ``allow_private_urls`` is for the local stack only (inputs on localhost)."""

    def __init__(self, s3: Any, *, allow_private_urls: bool = False) -> None:
        self._s3 = s3
        self._allow_private = allow_private_urls

    def open_ranged(self, ref: InputRef) -> RangedReader:
        if ref.url is not None:
            return self._open_http(ref.url)
        try:
            head = self._s3.head_object(Bucket=ref.bucket, Key=ref.key)
        except (ClientError, BotoCoreError) as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{ref.name}: {exc}") from exc

        def fetch(first: int, last: int) -> bytes:
            try:
                response = self._s3.get_object(Bucket=ref.bucket, Key=ref.key, Range=f"bytes={first}-{last}")
                return bytes(response["Body"].read())
            except (ClientError, BotoCoreError) as exc:
                raise ActivityError(Reason.S3_OPS_FAILED, f"{ref.name}: {exc}") from exc

        return RangedReader(fetch, int(head["ContentLength"]))

    def download(self, ref: InputRef, target: Path, progress: Callable[[int], None]) -> Path:
        """The whole input, copied to ``target`` in one transfer (S3's managed download, or one
        streamed GET), not in probe-sized ranges; ``progress`` gets the bytes copied so far."""
        copied = 0

        def count(chunk: int) -> None:
            nonlocal copied
            copied += chunk
            progress(copied)

        if ref.url is None:
            try:
                self._s3.download_file(ref.bucket, ref.key, str(target), Callback=count)
            except (ClientError, BotoCoreError) as exc:
                raise ActivityError(Reason.INPUT_UNREACHABLE, f"{ref.name}: {exc}") from exc
            return target
        request = urllib.request.Request(self._checked(ref.url))  # noqa: S310 - http(s) only
        try:
            with (
                urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response,  # noqa: S310
                target.open("wb") as out,
            ):
                while chunk := response.read(COPY_CHUNK):
                    out.write(chunk)
                    count(len(chunk))
        except (OSError, urllib.error.URLError) as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{ref.url}: {exc}") from exc
        return target

    def _checked(self, url: str) -> str:
        try:
            return check_fetchable_url(
                url, schemes=frozenset({"http", "https"}), allow_private=self._allow_private
            )
        except UnsafeUrl as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url} {exc}") from exc

    def _open_http(self, url: str) -> RangedReader:
        url = self._checked(url)

        def fetch(first: int, last: int) -> bytes:
            # Checked again per request: the name may resolve elsewhere by now (DNS rebinding).
            checked = self._checked(url)  # http(s) only
            request = urllib.request.Request(checked, headers={"Range": f"bytes={first}-{last}"})  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
                    if response.status == 206:
                        return bytes(response.read())
                    # No range support: skip to the range (costly, but correct).
                    response.read(first)
                    return bytes(response.read(last - first + 1))
            except (OSError, urllib.error.URLError) as exc:
                raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url}: {exc}") from exc

        request = urllib.request.Request(url, method="HEAD")  # noqa: S310 (checked: http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
                length = response.headers.get("Content-Length")
        except (OSError, urllib.error.URLError) as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url}: {exc}") from exc
        if length is None:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url}: the server does not say the size")
        return RangedReader(fetch, int(length))
