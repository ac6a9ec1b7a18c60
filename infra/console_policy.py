"""The console's Content Security Policy: its own scripts and styles only, and connections, pictures
and media from the hosts it needs and no other (the API, the media bucket's links, the sign-in).
Pure: CloudFront's response headers (infra.console) and the local console server (local.console)
send the same policy, each with its own hosts."""

from __future__ import annotations

from collections.abc import Sequence


def content_security_policy(*, api: str, media: Sequence[str], sign_in: Sequence[str]) -> str:
    """``api``, ``media`` and ``sign_in`` are origins (``https://host``)."""
    media_hosts = " ".join(media)
    connect = " ".join(dict.fromkeys(["'self'", api, *media, *sign_in]))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {media_hosts}".rstrip(),
            f"media-src 'self' blob: {media_hosts}".rstrip(),  # hls.js feeds the player a blob
            "worker-src 'self' blob:",  # and transmuxes in a worker made from a blob
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
