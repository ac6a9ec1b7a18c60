"""Synthesize each configuration once per session (CDK synthesis takes seconds), without bundling,
with the AWS Solutions checks on: a finding nobody acknowledged fails the synthesis."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.config import load_config
from infra.stack import CpeServerlessStack

ACCOUNT = "123456789012"
REGION = "us-east-1"


def synthesize(construct_id: str, config: dict[str, Any] | None = None) -> CpeServerlessStack:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
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
