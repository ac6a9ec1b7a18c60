"""The issuer's signing keys (JWKS), found through OIDC discovery and cached between invocations."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Keys rotate rarely; a key the cache does not know triggers a refetch, at most this often, so
# tokens with made-up key ids cannot turn the authorizer into a load generator for the issuer.
MAX_AGE_SECONDS = 3600
MIN_REFETCH_SECONDS = 60
# When the issuer cannot be reached, keep serving the keys already held (stale if error) for this
# long past their age, and ask the issuer again only after a pause (a failed fetch is cached too).
MAX_STALE_SECONDS = 24 * 3600
RETRY_AFTER_FAILURE_SECONDS = 30
TIMEOUT_SECONDS = 5
MAX_DOCUMENT_BYTES = 1 << 20

Fetch = Callable[[str], Mapping[str, Any]]


class KeySetUnavailable(RuntimeError):
    """The issuer's discovery document or key set could not be read."""


def fetch_json(url: str) -> Mapping[str, Any]:
    if not url.startswith("https://"):
        raise KeySetUnavailable(f"refusing a non-HTTPS key location: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (https only, above)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise KeySetUnavailable(f"{url}: {exc}") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise KeySetUnavailable(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise KeySetUnavailable(f"{url}: not JSON") from exc
    if not isinstance(document, dict):
        raise KeySetUnavailable(f"{url}: not a JSON object")
    return document


class KeySet:
    def __init__(
        self, issuer: str, fetch: Fetch = fetch_json, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._fetch = fetch
        self._clock = clock
        self._keys: Sequence[Mapping[str, Any]] = ()
        self._fetched_at: float | None = None
        self._failed: tuple[float, KeySetUnavailable] | None = None  # the last failed fetch

    def keys(self, *, refresh: bool = False) -> Sequence[Mapping[str, Any]]:
        """The cached keys; fetched when stale, or when ``refresh`` and not fetched just now. If the
        issuer cannot be reached, the keys held are served for up to ``MAX_STALE_SECONDS`` more,
        and the issuer is asked again only ``RETRY_AFTER_FAILURE_SECONDS`` after a failure."""
        now = self._clock()
        age = None if self._fetched_at is None else now - self._fetched_at
        if not (age is None or age > MAX_AGE_SECONDS or (refresh and age > MIN_REFETCH_SECONDS)):
            return self._keys
        usable = age is not None and age <= MAX_AGE_SECONDS + MAX_STALE_SECONDS
        if self._failed is not None and now - self._failed[0] < RETRY_AFTER_FAILURE_SECONDS:
            if usable:
                return self._keys
            raise self._failed[1]
        try:
            self._keys, self._fetched_at, self._failed = self._load(), now, None
        except KeySetUnavailable as exc:
            self._failed = (now, exc)
            if not usable:
                raise
        return self._keys

    def _load(self) -> Sequence[Mapping[str, Any]]:
        discovery = self._fetch(f"{self.issuer}/.well-known/openid-configuration")
        if discovery.get("issuer", "").rstrip("/") != self.issuer:
            raise KeySetUnavailable(
                f"the discovery document is for {discovery.get('issuer')!r}, not {self.issuer!r}"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise KeySetUnavailable("the discovery document has no jwks_uri")
        keys = self._fetch(jwks_uri).get("keys")
        if not isinstance(keys, list):
            raise KeySetUnavailable(f"{jwks_uri}: no 'keys' list")
        return [key for key in keys if isinstance(key, dict)]
