"""HLS playlists made playable from a browser: a playlist in S3 names its segments, init sections
and variant playlists relative to itself, and a presigned link to the playlist signs none of them.
The API serves each playlist with every media reference replaced by its own presigned link, and
every playlist reference by the API's route for that playlist (RFC 8216: URI lines, and the URI
attribute of EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY...). Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

PLAYLIST_SUFFIX = ".m3u8"
# About 2,500 lines of a VOD playlist (5 hours of 6 s segments); signed, each line grows to a
# link of about 1.4 KB, so the answer stays well under Lambda's 6 MB.
MAX_PLAYLIST_BYTES = 200_000
MAX_ANSWER_BYTES = 5_000_000
# An attribute of a tag (RFC 8216 4.2): a quoted value is taken whole, commas and all.
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


class AnswerTooLarge(ValueError):
    pass


def playlist_route(key: str) -> str:
    """The API's route for the playlist at ``key``, relative to another playlist's route
    (``/jobs/{job_id}/playlist?key=...``): players resolve it against the playlist they read."""
    return f"playlist?key={quote(key, safe='/')}"


def rewrite(text: str, key: str, *, within: str, link: Callable[[str], str]) -> str:
    """``text``, the playlist at ``key``, with each reference to an object under ``within``
    replaced: a playlist by its route, anything else by ``link(key)`` (once per object). A
    reference elsewhere (another folder, an absolute URL) is left as it is: the player will not
    reach it. Raises AnswerTooLarge past MAX_ANSWER_BYTES."""
    signed: dict[str, str] = {}

    def replaced(reference: str) -> str:
        target = _resolve(key, reference)
        if target is None or not target.startswith(within):
            return reference
        if target.endswith(PLAYLIST_SUFFIX):
            return playlist_route(target)
        if target not in signed:
            signed[target] = link(target)
        return signed[target]

    def attribute(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if name != "URI" or not value.startswith('"'):
            return match.group(0)
        return f'URI="{replaced(value[1:-1])}"'

    lines, size = [], 0
    for raw in text.removeprefix("\ufeff").split("\n"):  # RFC 8216: lines end with LF or CRLF only
        line = raw.rstrip("\r")
        stripped = line.strip()
        if stripped.startswith("#EXT") and ":" in stripped:
            tag, _, attributes = line.partition(":")
            line = f"{tag}:{_ATTRIBUTE.sub(attribute, attributes)}"
        elif stripped and not stripped.startswith("#"):
            line = replaced(stripped)
        size += len(line) + 1
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"the playlist signed is over {MAX_ANSWER_BYTES} bytes")
        lines.append(line)
    return "\n".join(lines).rstrip("\n") + "\n"


def _resolve(key: str, reference: str) -> str | None:
    """The object key ``reference`` names, relative to the playlist at ``key``; None for an
    absolute URL or a path that climbs out of the bucket. Only ``.`` and ``..`` segments are
    resolved: an S3 key may hold empty segments (``a//b``) or end with a slash."""
    parts = urlsplit(reference)
    if parts.scheme or parts.netloc or reference.startswith("/"):
        return None
    segments = key.split("/")[:-1]
    for segment in unquote(parts.path).split("/"):
        if segment == ".":
            continue
        if segment == "..":
            if not segments:
                return None
            segments.pop()
            continue
        segments.append(segment)
    return "/".join(segments)
