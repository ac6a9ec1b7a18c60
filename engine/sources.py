"""Reading inputs: from S3 (``bucket`` + ``file``) or ``http(s)`` (SSRF-checked), either through a
ranged reader (probing reads a few hundred KB of a large file, not all of it) or downloaded whole to
a working directory (transcoding reads everything anyway)."""

from __future__ import annotations

import io
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from engine.errors import ActivityError, Reason, aws_failure
from functions.jobs.payload import InputAsset
from functions.shared.http import Answer, HttpFailed, SafeHttp, TooLarge, TooSlow
from functions.shared.urls import UnsafeUrl, UrlPolicy

BLOCK_SIZE = 256 * 1024
CACHED_BLOCKS = 16
HTTP_TIMEOUT_SECONDS = 30  # for each read: the whole download has its own deadline (InputLimits)
_T = TypeVar("_T")
INPUT_URLS = UrlPolicy(schemes=frozenset({"http", "https"}))

Fetch = Callable[[int, int], bytes]  # (first byte, last byte) inclusive -> bytes


class RangedReader(io.RawIOBase):
    """A seekable, read-only file over ranged GETs, in blocks, with a small cache; counts what it
    fetched (``bytes_fetched``)."""

    def __init__(self, fetch: Fetch, size: int, block_size: int = BLOCK_SIZE) -> None:
        super().__init__()
        self._fetch = fetch
        self._block_size = block_size
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
        start = index * self._block_size
        data = self._fetch(start, min(start + self._block_size, self.size) - 1)
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
        index, offset = divmod(self._position, self._block_size)
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


@dataclass(frozen=True)
class InputLimits:
    """What the engine takes from an input's server: bytes in all, and seconds in all for a whole
    download (a server that drips a byte at a time, or never ends, is cut off)."""

    max_bytes: int = 20 * 1024**3
    download_seconds: float = 600.0
    http_policy: UrlPolicy = INPUT_URLS


class Sources:
    """Opens inputs, from S3 or over http(s) through the SSRF-safe client (every request, and
    every redirect's target, checked; connections to the checked address only)."""

    def __init__(
        self, s3: Any, limits: InputLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._s3 = s3
        self.limits = limits or InputLimits()
        self._http = SafeHttp(self.limits.http_policy, read_timeout=HTTP_TIMEOUT_SECONDS, clock=clock)
        self._clock = clock

    def open_ranged(self, ref: InputRef, block_size: int = BLOCK_SIZE) -> RangedReader:
        """The input as a seekable file read in ranges of ``block_size`` (only what is read)."""
        if ref.url is not None:
            return self._open_http(ref.url, block_size)
        size = self._s3_size(ref)

        def fetch(first: int, last: int) -> bytes:
            try:
                response = self._s3.get_object(Bucket=ref.bucket, Key=ref.key, Range=f"bytes={first}-{last}")
                return bytes(response["Body"].read())
            except (ClientError, BotoCoreError) as exc:
                raise aws_failure(exc, Reason.S3_OPS_FAILED, ref.name) from exc

        return RangedReader(fetch, size, block_size)

    def download(self, ref: InputRef, target: Path, progress: Callable[[int], None]) -> Path:
        """The whole input, copied to ``target`` in one transfer (S3's managed download, or one
        streamed GET), not in probe-sized ranges; ``progress`` gets the bytes copied so far."""
        copied = 0

        def count(chunk: int) -> None:
            nonlocal copied
            copied += chunk
            progress(copied)

        if ref.url is None:
            self._s3_size(ref)  # refused before anything is copied if it is over the limit
            try:
                self._s3.download_file(ref.bucket, ref.key, str(target), Callback=count)
            except (ClientError, BotoCoreError) as exc:
                raise aws_failure(exc, Reason.INPUT_UNREACHABLE, ref.name) from exc
            return target
        deadline = self._clock() + self.limits.download_seconds
        answer = self._get(ref.url, {})
        if answer.status != 200:
            answer.close()
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{ref.url}: HTTP {answer.status}")
        with target.open("wb") as out:
            self._read(ref.url, lambda: answer.copy_to(out, self.limits.max_bytes, deadline, count))
        return target

    def _s3_size(self, ref: InputRef) -> int:
        try:
            head = self._s3.head_object(Bucket=ref.bucket, Key=ref.key)
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, Reason.INPUT_UNREACHABLE, ref.name) from exc
        return self._within_limit(ref.name, int(head["ContentLength"]))

    def _within_limit(self, name: str, size: int) -> int:
        if size > self.limits.max_bytes:
            raise ActivityError(
                Reason.INPUT_TOO_LARGE, f"{name} has {size} bytes, over this stack's {self.limits.max_bytes}"
            )
        return size

    def _get(self, url: str, headers: dict[str, str], method: str = "GET") -> Answer:
        """A request whose redirects are followed, each target checked (DNS rebinding included)."""
        try:
            return self._http.request(method, url, headers=headers, follow_redirects=True)
        except UnsafeUrl as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url} {exc}") from exc
        except HttpFailed as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, str(exc)) from exc

    @staticmethod
    def _read(url: str, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except TooLarge as exc:
            raise ActivityError(Reason.INPUT_TOO_LARGE, str(exc)) from exc
        except TooSlow as exc:
            raise ActivityError(Reason.INPUT_TOO_SLOW, str(exc)) from exc
        except (HttpFailed, OSError) as exc:
            raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url}: {exc}") from exc

    def _open_http(self, url: str, block_size: int) -> RangedReader:
        head = self._get(url, {}, method="HEAD")
        head.close()
        length = head.headers.get("content-length")
        if head.status != 200 or length is None or not length.isdigit():
            raise ActivityError(
                Reason.INPUT_UNREACHABLE, f"{url}: HTTP {head.status}, no size (Content-Length) given"
            )
        size = self._within_limit(url, int(length))
        deadline = self._clock() + self.limits.download_seconds

        def fetch(first: int, last: int) -> bytes:
            wanted = last - first + 1
            answer = self._get(url, {"Range": f"bytes={first}-{last}"})
            if answer.status == 206:
                return self._read(url, lambda: answer.read(wanted, deadline))
            if answer.status != 200:
                answer.close()
                raise ActivityError(Reason.INPUT_UNREACHABLE, f"{url}: HTTP {answer.status}")
            # No range support: read up to the range's end (costly, but correct) and stop there.
            return self._read(url, lambda: answer.read_prefix(last + 1, deadline))[first:]

        return RangedReader(fetch, size, block_size)
