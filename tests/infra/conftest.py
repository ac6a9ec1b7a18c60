"""Synthesize each configuration once per session (CDK synthesis takes seconds), without bundling,
with the AWS Solutions checks on: a finding nobody acknowledged fails the synthesis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.config import load_config
from infra.feature_flags import CDK_JSON, feature_flags
from infra.stack import CpeServerlessStack

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"


def synthesize(construct_id: str, config: dict[str, Any] | None = None) -> CpeServerlessStack:
    app = cdk.App(context={**feature_flags(), "aws:cdk:bundling-stacks": []})
    stack = CpeServerlessStack(
        app, construct_id, config=load_config(config), env=cdk.Environment(account=ACCOUNT, region=REGION)
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed on an unacknowledged finding
    return stack


def resources_of(stack: CpeServerlessStack) -> dict[str, Any]:
    return dict(Template.from_stack(stack).to_json()["Resources"])


@pytest.fixture(scope="session")
def stack() -> CpeServerlessStack:
    return synthesize("Test")


@pytest.fixture(scope="session")
def template(stack: CpeServerlessStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def resources(template: Template) -> dict[str, Any]:
    return dict(template.to_json()["Resources"])


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python app.py`` as the CDK CLI runs it: the asset bundled (no Docker), cdk-nag on. Modules
    using it share one xdist group, so the app is synthesized once."""
    out = tmp_path_factory.mktemp("cdk.out")
    environment = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "CDK_CONTEXT_JSON": json.dumps(json.loads(CDK_JSON.read_text())["context"]),  # as the CLI passes it
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=environment, check=True, capture_output=True)
    return out
