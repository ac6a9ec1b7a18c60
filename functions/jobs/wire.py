"""What every CPE wire model shares: tolerance of extra fields and of PHP's ``[]`` for ``{}``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

from functions.shared.models import Model

JsonValue = Any
"""Any JSON value (object, list, string, number, bool, null)."""


def php_array_as_object(value: Any) -> Any:
    # PHP's json_encode turns an empty associative array into [].
    return {} if isinstance(value, list) and not value else value


LenientObject = Annotated[dict[str, Any], BeforeValidator(php_array_as_object)]


class Open(Model):
    """Base for wire models: unknown fields are kept, never rejected."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
