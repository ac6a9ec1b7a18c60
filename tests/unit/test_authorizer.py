"""The JWT authorizer: what gets through and what does not, with keys made here (no network)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.backends.rsa_backend import RSAKey as PurePythonRSAKey

from functions import env
from functions.authorizer import handler as authorizer
from functions.authorizer.keys import (
    MAX_AGE_SECONDS,
    MAX_STALE_SECONDS,
    MIN_REFETCH_SECONDS,
    RETRY_AFTER_FAILURE_SECONDS,
    KeySet,
    KeySetUnavailable,
)
from functions.authorizer.tokens import TokenPolicy, TokenRejected, bearer_token, verify
from local.event_source import LambdaContext
from tests.builders import ManualClock

ISSUER = "https://issuer.example.com/"
AUDIENCE = "cpe-api"
POLICY = TokenPolicy(issuer=ISSUER, audiences=frozenset({AUDIENCE, "other-api"}))
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/GET/jobs/j-1"


class Signer:
    def __init__(self, kid: str) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        self.pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_jwk = {**jwk.construct(public_pem, "RS256").to_dict(), "kid": kid, "use": "sig"}
        self.public_pem = public_pem

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "exp": now + 600,
            "scope": "jobs",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.pem, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("key-1")


@pytest.fixture(scope="module")
def other_signer() -> Signer:
    return Signer("key-2")


def _b64(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_valid_token_yields_its_claims(signer: Signer) -> None:
    claims = verify(signer.token(), [signer.public_jwk], POLICY)
    assert claims["sub"] == "user-1"


def test_any_allowed_audience_is_accepted_and_a_list_claim_too(signer: Signer) -> None:
    assert verify(signer.token(aud=["x", "other-api"]), [signer.public_jwk], POLICY)["sub"] == "user-1"
    # Cognito access tokens carry client_id instead of aud.
    assert verify(signer.token(aud=None, client_id=AUDIENCE), [signer.public_jwk], POLICY)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "EXPIRED"),
        ({"exp": None}, "CLAIMS"),
        ({"nbf": int(time.time()) + 3600}, "CLAIMS"),
        ({"iss": "https://evil.example.com/"}, "CLAIMS"),
        ({"aud": "someone-else"}, "AUDIENCE"),
        ({"sub": None}, "CLAIMS"),
    ],
)
def test_claims_outside_the_policy_are_rejected(
    signer: Signer, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenRejected) as rejected:
        verify(signer.token(**overrides), [signer.public_jwk], POLICY)
    assert rejected.value.reason == reason


def test_a_token_signed_by_another_key_with_the_same_kid_is_rejected(signer: Signer) -> None:
    impostor = Signer("key-1")
    with pytest.raises(TokenRejected) as rejected:
        verify(impostor.token(), [signer.public_jwk], POLICY)
    assert rejected.value.reason == "SIGNATURE"


def test_unsigned_and_symmetric_tokens_are_rejected_whatever_the_header_says(signer: Signer) -> None:
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": int(time.time()) + 600}
    unsigned = f"{_b64({'alg': 'none', 'kid': 'key-1'})}.{_b64(payload)}."
    # HS256 keyed with the public key: the classic algorithm-confusion forgery.
    hs_input = f"{_b64({'alg': 'HS256', 'kid': 'key-1'})}.{_b64(payload)}"
    mac = hmac.new(signer.public_pem, hs_input.encode(), hashlib.sha256).digest()
    confused = f"{hs_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    for token in (unsigned, confused):
        with pytest.raises(TokenRejected) as rejected:
            verify(token, [signer.public_jwk], POLICY)
        assert rejected.value.reason == "ALGORITHM"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30"])
def test_malformed_tokens_are_rejected(signer: Signer, token: str) -> None:
    with pytest.raises(TokenRejected):
        verify(token, [signer.public_jwk], POLICY)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "token"])
def test_only_bearer_headers_carry_a_token(header: str | None) -> None:
    with pytest.raises(TokenRejected) as rejected:
        bearer_token(header)
    assert rejected.value.reason == "NOT_BEARER"
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"


def test_the_pure_python_backend_used_on_lambda_verifies_the_same_signatures(signer: Signer) -> None:
    # The Lambda asset has no cryptography wheel: python-jose falls back to the rsa package.
    signing_input, _, signature = signer.token().rpartition(".")
    key = PurePythonRSAKey(signer.public_jwk, "RS256")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert key.verify(signing_input.encode(), raw)
    assert not key.verify(signing_input.encode() + b"x", raw)


class FakeIssuer:
    def __init__(self, *keys: Mapping[str, Any]) -> None:
        self.keys = list(keys)
        self.requests: list[str] = []
        self.discovery_issuer = ISSUER

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.requests.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": self.discovery_issuer, "jwks_uri": "https://issuer.example.com/keys"}
        return {"keys": list(self.keys)}


def test_keys_are_discovered_cached_and_refetched_only_when_stale_or_unknown(signer: Signer) -> None:
    issuer, clock = FakeIssuer(signer.public_jwk), ManualClock(1000.0)
    keys = KeySet(ISSUER, fetch=issuer, clock=clock)
    assert keys.keys() == [signer.public_jwk]
    assert issuer.requests == [
        "https://issuer.example.com/.well-known/openid-configuration",
        "https://issuer.example.com/keys",
    ]
    keys.keys()
    keys.keys(refresh=True)  # an unknown kid just after a fetch: no new request
    assert len(issuer.requests) == 2
    clock.now += MIN_REFETCH_SECONDS + 1
    keys.keys(refresh=True)
    assert len(issuer.requests) == 4
    clock.now += MAX_AGE_SECONDS + 1
    keys.keys()
    assert len(issuer.requests) == 6


def test_a_discovery_document_for_another_issuer_is_refused(signer: Signer) -> None:
    issuer = FakeIssuer(signer.public_jwk)
    issuer.discovery_issuer = "https://evil.example.com/"
    with pytest.raises(KeySetUnavailable):
        KeySet(ISSUER, fetch=issuer).keys()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, signer: Signer) -> Iterator[FakeIssuer]:
    monkeypatch.setenv(env.JWT_ISSUER, ISSUER)
    monkeypatch.setenv(env.JWT_AUDIENCE, f"{AUDIENCE}, other-api")
    issuer = FakeIssuer(signer.public_jwk)
    authorizer._policy.cache_clear()
    authorizer._key_set.cache_clear()
    monkeypatch.setattr(authorizer, "_key_set", lambda: keyset)
    keyset = KeySet(ISSUER, fetch=issuer)
    yield issuer
    authorizer._policy.cache_clear()


def _invoke(token_header: str | None) -> dict[str, Any]:
    event = {"type": "TOKEN", "authorizationToken": token_header, "methodArn": METHOD_ARN}
    return authorizer.handler(event, LambdaContext(function_name="authorizer"))


def test_the_handler_allows_the_whole_stage_for_a_valid_token(configured: FakeIssuer, signer: Signer) -> None:
    answer = _invoke(f"Bearer {signer.token()}")
    assert answer["principalId"] == "user-1"
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/*/*",
    }
    assert answer["context"] == {"sub": "user-1", "scope": "jobs", "issuer": ISSUER}


def test_the_claims_an_owner_may_be_named_by_reach_the_api(configured: FakeIssuer, signer: Signer) -> None:
    answer = _invoke(f"Bearer {signer.token(client_id='app-7', azp=['not', 'a', 'string'])}")
    assert answer["context"] == {"sub": "user-1", "client_id": "app-7", "scope": "jobs", "issuer": ISSUER}


def test_the_handler_answers_401_without_logging_the_token(
    configured: FakeIssuer, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = io.StringIO()
    monkeypatch.setattr(authorizer.logger.registered_handler, "stream", log)
    token = signer.token(aud="someone-else")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _invoke(f"Bearer {token}")
    logged = log.getvalue()
    assert '"reason":"AUDIENCE"' in logged.replace(" ", "")
    assert token not in logged and token.split(".")[2] not in logged


def test_a_rotated_key_is_picked_up_by_refetching(
    configured: FakeIssuer, signer: Signer, other_signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _invoke(f"Bearer {signer.token()}")["principalId"] == "user-1"
    configured.keys.append(other_signer.public_jwk)
    monkeypatch.setattr("functions.authorizer.keys.MIN_REFETCH_SECONDS", -1)
    assert _invoke(f"Bearer {other_signer.token(sub='user-2')}")["principalId"] == "user-2"


def test_an_unreachable_issuer_answers_401(
    configured: FakeIssuer, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(url: str) -> Mapping[str, Any]:
        raise KeySetUnavailable("connection refused")

    monkeypatch.setattr(authorizer, "_key_set", lambda: KeySet(ISSUER, fetch=down))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _invoke(f"Bearer {signer.token()}")


class FlakyIssuer(FakeIssuer):
    """An issuer that can go down: while ``down``, every request fails."""

    down = False

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.requests.append(url)
        if self.down:
            raise KeySetUnavailable("connection refused")
        return super().__call__(url)


def test_keys_held_are_served_while_the_issuer_is_down_and_a_failure_is_not_retried_at_once(
    signer: Signer,
) -> None:
    issuer, clock = FlakyIssuer(signer.public_jwk), ManualClock(1000.0)
    keys = KeySet(ISSUER, fetch=issuer, clock=clock)
    assert keys.keys() == [signer.public_jwk]
    issuer.down = True
    clock.now += MAX_AGE_SECONDS + 1  # stale: refetch, which fails
    assert keys.keys() == [signer.public_jwk]  # stale if error
    asked = len(issuer.requests)
    clock.now += RETRY_AFTER_FAILURE_SECONDS - 1
    keys.keys()
    keys.keys(refresh=True)
    assert len(issuer.requests) == asked  # the failure is cached: the issuer is not hammered
    clock.now += 2
    keys.keys()
    assert len(issuer.requests) == asked + 1  # asked again after the pause
    clock.now += MAX_STALE_SECONDS  # too stale to trust any more
    with pytest.raises(KeySetUnavailable):
        keys.keys()


def test_a_first_fetch_that_fails_is_cached_briefly_then_retried(signer: Signer) -> None:
    issuer, clock = FlakyIssuer(signer.public_jwk), ManualClock(1000.0)
    issuer.down = True
    keys = KeySet(ISSUER, fetch=issuer, clock=clock)
    for _ in range(3):
        with pytest.raises(KeySetUnavailable):
            keys.keys()
    assert len(issuer.requests) == 1
    issuer.down = False
    clock.now += RETRY_AFTER_FAILURE_SECONDS + 1
    assert keys.keys() == [signer.public_jwk]


def test_a_required_token_use_and_scopes_are_enforced(signer: Signer) -> None:
    policy = TokenPolicy(ISSUER, frozenset({AUDIENCE}), token_use="access", scopes=frozenset({"jobs"}))
    keys = [signer.public_jwk]
    assert verify(signer.token(token_use="access"), keys, policy)["sub"] == "user-1"
    assert verify(signer.token(token_use="access", scope=None, scp=["jobs", "x"]), keys, policy)
    for overrides, reason in (
        ({"token_use": "id"}, "TOKEN_USE"),
        ({}, "TOKEN_USE"),
        ({"token_use": "access", "scope": "other"}, "SCOPE"),
        ({"token_use": "access", "scope": None}, "SCOPE"),
    ):
        with pytest.raises(TokenRejected) as rejected:
            verify(signer.token(**overrides), keys, policy)
        assert rejected.value.reason == reason
