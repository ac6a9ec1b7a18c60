"""The AWS Solutions findings this stack accepts, each on the one resource it concerns, and why.

cdk-nag 3 fails synth on any finding that is not acknowledged here."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


def nag_partition(scope: IConstruct) -> str:
    """The partition as cdk-nag writes it in a finding about an ARN the stack builds from
    ``Stack.partition``: a literal once the stack's region is known (feature flag
    ``@aws-cdk/core:enablePartitionLiterals``), else the reference. AWS managed policies' ARNs keep
    the reference."""
    partition = Stack.of(scope).partition
    return "<AWS::Partition>" if Token.is_unresolved(partition) else partition
