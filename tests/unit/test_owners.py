"""Who owns a request's jobs: IAM principals (a role's sessions are the role), JWT and Cognito
claims, client names and operators from the configuration, and no guess when there is no identity."""

from __future__ import annotations

from typing import Any

import pytest

from functions.jobs.owners import Caller, OwnerPolicy, Unidentified, canonical_owner
from local.apigateway import proxy_event

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Uploader"


def iam(user_arn: str | None) -> dict[str, Any]:
    context = proxy_event("GET", "/jobs")["requestContext"]
    context["identity"]["userArn"] = user_arn
    return context


def authorized(**context: Any) -> dict[str, Any]:
    request = proxy_event("GET", "/jobs")["requestContext"]
    request["authorizer"] = context
    return request


@pytest.mark.parametrize(
    ("principal", "owner"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Uploader/i-0abc", ROLE),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Uploader/botocore-session-17", ROLE),
        (ROLE, ROLE),
        (f"arn:aws:iam::{ACCOUNT}:role/service-role/media/Uploader", ROLE),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/Uploader/s", f"arn:aws-cn:iam::{ACCOUNT}:role/Uploader"),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/alice", f"arn:aws:iam::{ACCOUNT}:user/ops/alice"),
        (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", f"arn:aws:sts::{ACCOUNT}:federated-user/bob"),
    ],
)
def test_a_roles_sessions_and_the_role_itself_are_one_owner(principal: str, owner: str):
    assert canonical_owner(principal) == owner
    assert OwnerPolicy("iam", "Default").caller(iam(principal)).owner == owner


def test_two_roles_of_one_name_in_two_accounts_are_two_owners():
    policy = OwnerPolicy("iam", "Default")
    a = policy.caller(iam(f"arn:aws:sts::{ACCOUNT}:assumed-role/Uploader/x"))
    b = policy.caller(iam("arn:aws:sts::444455556666:assumed-role/Uploader/x"))
    assert a.owner != b.owner and not a.may_see(b.owner) and not b.may_see(a.owner)


def test_client_names_and_operators_are_configured_by_any_arn_of_the_role():
    policy = OwnerPolicy(
        "iam",
        "Default",
        client_names={f"arn:aws:iam::{ACCOUNT}:role/apps/Uploader": "SiteA"},
        operators=frozenset({f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/console"}),
    )
    uploader = policy.caller(iam(f"arn:aws:sts::{ACCOUNT}:assumed-role/Uploader/i-1"))
    ops = policy.caller(iam(f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/other-session"))
    stranger = policy.caller(iam(f"arn:aws:iam::{ACCOUNT}:user/carol"))
    assert (uploader.client_name, uploader.operator) == ("SiteA", False)
    assert (ops.client_name, ops.operator) == ("Default", True)
    assert (stranger.client_name, stranger.operator) == ("Default", False)
    assert ops.may_see(uploader.owner) and ops.may_see(None)
    assert uploader.may_see(uploader.owner) and not uploader.may_see(stranger.owner)
    assert not uploader.may_see(None)  # a job nobody owns is the operators' alone


@pytest.mark.parametrize("claim", ["sub", "client_id", "azp"])
def test_a_jwt_callers_owner_is_the_configured_claim(claim: str):
    policy = OwnerPolicy("jwt", "Default", claim=claim, client_names={"app-123": "SiteB"})
    context = {"sub": "user-1", "client_id": "other", "azp": "other", claim: "app-123"}
    assert policy.caller(authorized(**context)) == Caller("app-123", "SiteB")


def test_a_cognito_callers_owner_comes_from_the_user_pools_claims():
    policy = OwnerPolicy("cognito", "Default", claim="client_id")
    caller = policy.caller(authorized(claims={"sub": "user-1", "client_id": "pool-app"}))
    assert caller.owner == "pool-app"


@pytest.mark.parametrize(
    ("policy", "context"),
    [
        (OwnerPolicy("iam", "Default"), iam(None)),
        (OwnerPolicy("iam", "Default"), iam("")),
        (OwnerPolicy("iam", "Default"), {"identity": "not a mapping"}),
        (OwnerPolicy("jwt", "Default", claim="azp"), authorized(sub="user-1")),  # the claim not passed
        (OwnerPolicy("jwt", "Default"), {"authorizer": None}),
        (OwnerPolicy("jwt", "Default"), authorized(sub=["a", "list"])),
        (OwnerPolicy("jwt", "Default"), authorized(sub="x" * 513)),
        (OwnerPolicy("jwt", "Default"), authorized(sub="line\nbreak")),
        (OwnerPolicy("cognito", "Default"), authorized(claims="sub=user-1")),
    ],
)
def test_no_usable_identity_is_refused_never_guessed(policy: OwnerPolicy, context: dict[str, Any]):
    with pytest.raises(Unidentified):
        policy.caller(context)
