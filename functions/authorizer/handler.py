"""Lambda entry point: API Gateway's TOKEN authorizer for auth mode ``jwt``.

A valid token gets a policy allowing every method of the stage (API Gateway caches the answer per
token, for all routes); anything else gets 401 (``Unauthorized``) and a log line saying why, never
the token itself.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import env
from functions.authorizer.keys import KeySet, KeySetUnavailable
from functions.authorizer.tokens import (
    TokenPolicy,
    TokenRejected,
    UnknownKey,
    bearer_token,
    granted_scopes,
    verify,
)

logger = Logger()
UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway turns into a 401


@cache
def _policy() -> TokenPolicy:
    audiences = frozenset(a.strip() for a in os.environ.get(env.JWT_AUDIENCE, "").split(",") if a.strip())
    issuer = os.environ.get(env.JWT_ISSUER, "")  # exactly as tokens carry it (Auth0 ends it with "/")
    if not issuer.startswith("https://") or not audiences:
        raise RuntimeError(f"{env.JWT_ISSUER} (https) and {env.JWT_AUDIENCE} must be set")
    return TokenPolicy(
        issuer=issuer,
        audiences=audiences,
        token_use=os.environ.get(env.JWT_TOKEN_USE) or None,
        scopes=frozenset(os.environ.get(env.JWT_SCOPES, "").split()),
    )


@cache
def _key_set() -> KeySet:
    return KeySet(_policy().issuer)


def authenticate(header: str | None) -> dict[str, Any]:
    """The claims of the bearer token in ``header``; raises TokenRejected."""
    token = bearer_token(header)
    try:
        return verify(token, _key_set().keys(), _policy())
    except UnknownKey:
        return verify(token, _key_set().keys(refresh=True), _policy())


def stage_arn(method_arn: str) -> str:
    """``arn:...:api-id/stage/*/*`` from the invoked method's ARN."""
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{prefix}/{stage}/*/*"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        claims = authenticate(event.get("authorizationToken"))
    except TokenRejected as rejected:
        logger.info("token rejected", reason=rejected.reason, detail=rejected.detail)
        raise Exception(UNAUTHORIZED) from None
    except KeySetUnavailable as exc:
        # The caller may be fine; the issuer is not reachable. 401 keeps clients from caching a 403.
        logger.error("issuer keys unavailable", detail=str(exc))
        raise Exception(UNAUTHORIZED) from None
    scope = " ".join(sorted(granted_scopes(claims)))
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_arn(event["methodArn"])}
            ],
        },
        # Passed to the API as requestContext.authorizer (strings only): the claims an owner may be
        # named by (functions.jobs.owners), the scopes and the issuer.
        "context": {
            "sub": claims["sub"],
            **{name: claims[name] for name in ("client_id", "azp") if isinstance(claims.get(name), str)},
            "scope": str(scope),
            "issuer": str(claims.get("iss", "")),
        },
    }
