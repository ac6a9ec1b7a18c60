"""HTTP to URLs a job names (an input to fetch, a webhook to call), safe from SSRF:

* every connection goes to an address the check (functions.shared.urls) passed: the name is
  resolved once, by the check, and the socket is opened to that address, with the URL's host in
  the Host header and in TLS (SNI and the certificate's name), so a name that answers one address
  to the check and another to the connection (DNS rebinding) gets nowhere;
* redirects are never followed blindly: each target is checked like the first URL (inputs), or a
  redirect is an answer like any other (webhooks: the caller treats it as a failed attempt);
* bodies are read with a byte cap and a total deadline, so a server that drips bytes or never
  ends holds nothing forever.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from functions.shared.urls import Destination, UrlPolicy, destination

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 1024 * 1024


class HttpFailed(OSError):
    """The request could not be made or its answer not read (the message says why)."""


class TooLarge(HttpFailed):
    """The body is bigger than the caller allows."""


class TooSlow(HttpFailed):
    """The body did not arrive within the caller's deadline."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    url: str  # after redirects
    _response: Any

    clock: Callable[[], float] = time.monotonic

    def read(self, max_bytes: int, deadline: float | None = None) -> bytes:
        """The whole body: at most ``max_bytes``, before ``deadline`` (on ``clock``)."""
        return b"".join(self.chunks(max_bytes, deadline))

    def read_prefix(self, count: int, deadline: float | None = None) -> bytes:
        """The first ``count`` bytes of the body (fewer if it is shorter); the rest is not read."""
        data = bytearray()
        try:
            for chunk in self.chunks(max_bytes=count + CHUNK_BYTES, deadline=deadline):
                data += chunk
                if len(data) >= count:
                    break
        finally:
            self.close()
        return bytes(data[:count])

    def copy_to(
        self, out: BinaryIO, max_bytes: int, deadline: float | None, progress: Callable[[int], None]
    ) -> int:
        copied = 0
        for chunk in self.chunks(max_bytes, deadline):
            out.write(chunk)
            copied += len(chunk)
            progress(len(chunk))
        return copied

    def chunks(self, max_bytes: int, deadline: float | None) -> Iterator[bytes]:
        received = 0
        try:
            while True:
                if deadline is not None and self.clock() > deadline:
                    raise TooSlow(f"{self.url}: the body did not arrive in time ({received} bytes so far)")
                chunk = self._response.read1(CHUNK_BYTES)
                if not chunk:
                    return
                received += len(chunk)
                if received > max_bytes:
                    raise TooLarge(f"{self.url}: the body is over {max_bytes} bytes")
                yield chunk
        except Urllib3Error as exc:
            raise HttpFailed(f"{self.url}: {exc}") from exc
        finally:
            self.close()

    def close(self) -> None:
        self._response.release_conn()
        self._response.close()


class SafeHttp:
    def __init__(
        self,
        policy: UrlPolicy,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_redirects: int = 5,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._max_redirects = max_redirects
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._clock = clock

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        follow_redirects: bool = False,
    ) -> Answer:
        """Send the request to a checked address; raises ``UnsafeUrl`` (the URL, or a redirect's
        target, is not allowed) or ``HttpFailed``. The caller reads or closes the answer."""
        for _ in range(self._max_redirects + 1):
            answer = self._once(method, destination(url, self.policy), headers or {}, body)
            location = answer.headers.get("location")
            if not follow_redirects or answer.status not in REDIRECTS or not location:
                return answer
            answer.close()
            url = urljoin(url, location)
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise HttpFailed(f"more than {self._max_redirects} redirects from {url}")

    def _once(
        self, method: str, where: Destination, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        address = where.addresses[0]
        pool: urllib3.HTTPConnectionPool
        if where.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                where.port,
                timeout=self._timeout,
                retries=False,
                maxsize=1,
                server_hostname=where.host,  # SNI: the URL's name, not the address
                assert_hostname=where.host,  # and the certificate must be the name's
                ssl_context=self._ssl_context,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                address, where.port, timeout=self._timeout, retries=False, maxsize=1
            )
        try:
            response = pool.urlopen(
                method,
                where.target,
                body=body,
                headers={**headers, "Host": where.host_header},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
        except Urllib3Error as exc:
            raise HttpFailed(f"{where.url}: {exc}") from exc
        return Answer(response.status, response.headers, where.url, response, self._clock)
