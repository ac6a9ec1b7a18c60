"""Reading JSON text strictly, for everything that reads what others send (API bodies, queue
messages): ``NaN`` and ``Infinity`` are not JSON, a number too big for a float (``1e999``) or with
more digits than Python converts (``1`` and 5,000 zeros) is refused, and so is nesting deeper than
the interpreter can follow. Each refusal is a ``ValueError`` with a plain message."""

from __future__ import annotations

import json
import math
from typing import Any


class NotStrictJson(ValueError):
    """The text is not JSON this stack reads; the message says why."""


class NonFiniteNumber(NotStrictJson):
    """``NaN``, ``Infinity``, or a number no float or int here can hold."""


class TooDeep(NotStrictJson):
    """Nested deeper than the interpreter can follow."""


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"JSON literal {name} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"the number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:  # more digits than Python's int conversion limit
        raise NonFiniteNumber(f"a number with {len(text)} digits is out of range") from exc


def loads(text: str | bytes) -> Any:
    """The JSON value of ``text``; raises ``NotStrictJson`` (or ``json.JSONDecodeError``, both
    ``ValueError``) for anything this stack does not read."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded_int)
    except RecursionError:
        raise TooDeep("JSON nesting too deep") from None
