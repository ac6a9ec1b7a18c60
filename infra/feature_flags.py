"""The CDK feature flags the stack is built with: cdk.json's context (every flag AWS recommends,
set as `cdk flags --set --unconfigured --recommended` would). The CDK CLI reads them from cdk.json;
the tests and the local stack, which build the app without the CLI, read them here, so that what is
tested is what deploys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def feature_flags() -> dict[str, Any]:
    context = json.loads(CDK_JSON.read_text())["context"]
    return {key: value for key, value in context.items() if key.startswith("@aws-cdk")}
