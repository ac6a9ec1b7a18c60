"""How the API reads what callers send: JSON bodies, strictly, and RFC 3339 times."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

from functions.jobs import jsontext


def strict_json(text: str) -> Any:
    """Request bodies read strictly (functions.jobs.jsontext); a refusal is a JSON decoding error,
    which the API answers with 400 INVALID_JSON."""
    try:
        return jsontext.loads(text)
    except jsontext.NotStrictJson as exc:
        raise json.JSONDecodeError(str(exc), "", 0) from None


_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: Any) -> Any:
    """Only RFC 3339 date-times with an offset (pydantic alone would take "0.5" as a timestamp)."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected an RFC 3339 date-time with a time zone, e.g. 2026-11-28T10:00:00Z")
    if match.group(1) == "60":  # a leap second: Python's datetime stops at :59
        value = value[: match.start(1)] + "59" + value[match.end(1) :]
    return value.upper()


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
