"""The AWS Solutions findings this stack accepts, each on the one resource it concerns, and why.

cdk-nag 3 fails synth on any finding that is not acknowledged here."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))
