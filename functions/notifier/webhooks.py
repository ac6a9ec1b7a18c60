"""Webhook delivery's policy, in plain values and pure functions (infra reads the limits too):
Standard Webhooks signatures (https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``
for each active secret (several during a rotation), separated by spaces; the attempts and their
backoff."""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
TIMEOUT_SECONDS = 10  # for a receiver to answer one delivery
# Attempts before the DLQ: their least total span (every jitter at its lowest) is over 24 hours
# (tests/unit/test_notifier.py). The delivery queue's maxReceiveCount is this number.
MAX_ATTEMPTS = 18


def secret_bytes(secret: str) -> bytes:
    value = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(value + "=" * (-len(value) % 4))


def signed_headers(secrets: list[str], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    if not secrets:
        raise ValueError("no webhook secret to sign with")
    content = f"{message_id}.{timestamp}.{body}".encode()
    signatures = [
        "v1," + base64.b64encode(hmac.new(secret_bytes(s), content, hashlib.sha256).digest()).decode()
        for s in secrets
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


def backoff_seconds(attempt: int, jitter: float, *, base: int = 30, cap: int = 6 * 3600) -> int:
    """Exponential backoff with jitter (``jitter`` in [0, 1)): 30 s, 60 s, ... up to 6 h."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return int(delay / 2 + delay / 2 * jitter)


def retry_schedule(attempts: int) -> int:
    """The least total time ``attempts`` deliveries span (every jitter at its lowest)."""
    return sum(backoff_seconds(n, 0.0) for n in range(1, attempts))
