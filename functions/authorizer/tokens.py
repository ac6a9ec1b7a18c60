"""Verifying an OIDC issuer's RS256 access or ID tokens: pure, no I/O (the keys are given).

Only RS256 is accepted, whatever the token's header says, so no algorithm-confusion trick (``none``,
HS256 keyed with the public key) can get through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError, JWTError

ALGORITHM = "RS256"
# Clock skew tolerated on exp, nbf and iat.
LEEWAY_SECONDS = 60


class TokenRejected(Exception):
    """The token does not authenticate anyone; ``reason`` is a code for logs and metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class UnknownKey(TokenRejected):
    """The token names a key the issuer's key set does not have (yet): refetch it once."""


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audiences: frozenset[str]
    token_use: str | None = None  # e.g. "access": Cognito's ID tokens then do not pass as access
    scopes: frozenset[str] = frozenset()  # every one of them must be granted (``scope``/``scp``)


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (API Gateway's TOKEN source)."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("NOT_BEARER", "expected 'Authorization: Bearer <token>'")
    return token.strip()


def signing_key(token: str, keys: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The issuer's key the token's header names (``kid``), if it is an RSA signing key."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise TokenRejected("MALFORMED", str(exc)) from exc
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("ALGORITHM", f"only {ALGORITHM} tokens are accepted, not {header.get('alg')!r}")
    kid = header.get("kid")
    for key in keys:
        if key.get("kid") == kid and key.get("kty") == "RSA" and key.get("use", "sig") == "sig":
            return key
    raise UnknownKey("UNKNOWN_KEY", f"the issuer has no RSA signing key {kid!r}")


def verify(token: str, keys: Sequence[Mapping[str, Any]], policy: TokenPolicy) -> dict[str, Any]:
    """The token's claims, once its signature, issuer, audience and lifetime are checked."""
    key = {**signing_key(token, keys), "alg": ALGORITHM}
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=policy.issuer,
            # Several audiences may be allowed: checked below, against the claim or client_id.
            options={"verify_aud": False, "verify_at_hash": False, "leeway": LEEWAY_SECONDS},
        )
    except ExpiredSignatureError as exc:
        raise TokenRejected("EXPIRED", str(exc)) from exc
    except JWTClaimsError as exc:
        raise TokenRejected("CLAIMS", str(exc)) from exc
    except JWTError as exc:
        raise TokenRejected("SIGNATURE", str(exc)) from exc
    if not isinstance(claims.get("exp"), int | float):
        raise TokenRejected("CLAIMS", "the token has no expiry")
    audiences = claims.get("aud", claims.get("client_id"))
    presented = {audiences} if isinstance(audiences, str) else set(audiences or ())
    if not presented & policy.audiences:
        raise TokenRejected("AUDIENCE", f"the token is for {sorted(presented)}, not this API")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected("CLAIMS", "the token has no subject")
    if policy.token_use is not None and claims.get("token_use") != policy.token_use:
        raise TokenRejected(
            "TOKEN_USE", f"the token's use is {claims.get('token_use')!r}, not {policy.token_use!r}"
        )
    missing = policy.scopes - granted_scopes(claims)
    if missing:
        raise TokenRejected("SCOPE", f"the token lacks the scopes {sorted(missing)}")
    return claims


def granted_scopes(claims: Mapping[str, Any]) -> set[str]:
    """The scopes a token grants: a space-separated ``scope``, or a list in ``scp``."""
    scope = claims.get("scope")
    listed = claims.get("scp")
    return set(scope.split()) if isinstance(scope, str) else {str(s) for s in listed or ()}
