"""Synthesize once per session (CDK synthesis takes seconds): templates without bundling."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.stack import CpeServerlessStack


@pytest.fixture(scope="session")
def stack() -> CpeServerlessStack:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    return CpeServerlessStack(app, "Test", env=cdk.Environment(account="123456789012", region="us-east-1"))


@pytest.fixture(scope="session")
def template(stack: CpeServerlessStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def resources(template: Template) -> dict[str, Any]:
    return template.to_json()["Resources"]
