"""Write the API's OpenAPI schema to docs/openapi.json (``make openapi``); a test keeps it current."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

OPENAPI = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def render() -> str:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "openapi")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "openapi")
    from functions.api.handler import app  # noqa: PLC0415 - after Powertools' environment
    from functions.api.openapi import openapi_schema  # noqa: PLC0415

    return json.dumps(openapi_schema(app), indent=2, sort_keys=True) + "\n"


def main() -> None:
    OPENAPI.write_text(render(), encoding="utf-8")
    print(f"wrote {OPENAPI}", file=sys.stderr)


if __name__ == "__main__":
    main()
