"""HLS playlists made playable from a browser: a playlist in S3 names its segments, init sections
and variant playlists relative to itself, and a presigned link to the playlist signs none of them.
The API serves each playlist with every media reference replaced by its own presigned link, and
every playlist reference by the API's route for that playlist (RFC 8216: URI lines, and the URI
attribute of EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY...). Pure."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

PLAYLIST_SUFFIX = ".m3u8"
MAX_PLAYLIST_BYTES = 1_000_000  # a VOD playlist of 6 s segments: about 80 bytes per 6 s, days long
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def playlist_route(key: str) -> str:
    """The API's route for the playlist at ``key``, relative to another playlist's route
    (``/jobs/{job_id}/playlist?key=...``): players resolve it against the playlist they read."""
    return f"playlist?key={quote(key, safe='/')}"


def rewrite(text: str, key: str, *, within: str, link: Callable[[str], str]) -> str:
    """``text``, the playlist at ``key``, with each reference to an object under ``within``
    replaced: a playlist by its route, anything else by ``link(key)``. A reference elsewhere
    (another folder, an absolute URL) is left as it is: the player will not reach it."""

    def replaced(reference: str) -> str:
        target = _resolve(key, reference)
        if target is None or not target.startswith(within):
            return reference
        return playlist_route(target) if target.endswith(PLAYLIST_SUFFIX) else link(target)

    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            lines.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{replaced(m.group(1))}"', line))
        else:
            lines.append(replaced(stripped) if stripped else line)
    return "\n".join(lines) + "\n"


def _resolve(key: str, reference: str) -> str | None:
    """The object key ``reference`` names, relative to the playlist at ``key``; None for an
    absolute URL or a path that climbs out of the bucket."""
    parts = urlsplit(reference)
    if parts.scheme or parts.netloc or reference.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(key), unquote(parts.path)))
    return None if joined.startswith("../") or joined in (".", "..") else joined
