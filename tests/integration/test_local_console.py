"""The local sign-in that stands in for Cognito's managed login: the authorization code flow with
PKCE as a browser runs it, and what it refuses (another client, a foreign redirect, no PKCE, a
wrong verifier, a code used twice); its tokens are the issuer's, for the name signed in."""

from __future__ import annotations

import base64
import hashlib
import http.client
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from jose import jwt

from local.console import AUTHORIZE, CLIENT_ID, TOKEN, LocalConsole
from local.issuer import AUDIENCE, LocalIssuer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console() -> Iterator[LocalConsole]:
    with LocalIssuer() as issuer, LocalConsole(issuer) as running:
        running.serve("http://127.0.0.1:1/prod/", "http://127.0.0.1:2")
        yield running


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(console: LocalConsole, challenge: str, **changes: str) -> requests.Response:
    form = {
        "client_id": CLIENT_ID,
        "redirect_uri": console.url,
        "response_type": "code",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": "n-1",
        "username": "alice",
        **changes,
    }
    return requests.post(console.origin + AUTHORIZE, data=form, allow_redirects=False, timeout=10)


def redeem(console: LocalConsole, code: str, verifier: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": code,
        "redirect_uri": console.url,
        "code_verifier": verifier,
    }
    return requests.post(console.origin + TOKEN, data=form, timeout=10)


def test_the_code_flow_gives_the_named_user_the_issuers_tokens_once(console: LocalConsole):
    page = requests.get(console.origin + AUTHORIZE, params={"client_id": CLIENT_ID}, timeout=10)
    assert page.status_code == 400  # no redirect, no PKCE
    verifier, challenge = pkce()
    answer = authorize(console, challenge)
    assert answer.status_code == 303
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == console.url
    query = parse_qs(back.query)
    assert query["state"] == ["s-1"]

    tokens = redeem(console, query["code"][0], verifier)
    assert tokens.status_code == 200
    access = jwt.get_unverified_claims(tokens.json()["access_token"])
    identity = jwt.get_unverified_claims(tokens.json()["id_token"])
    assert (access["sub"], access["aud"], access["client_id"]) == ("alice", AUDIENCE, CLIENT_ID)
    assert (identity["sub"], identity["aud"], identity["nonce"]) == ("alice", CLIENT_ID, "n-1")
    assert redeem(console, query["code"][0], verifier).json()["error"] == "invalid_grant"  # once


def test_a_wrong_verifier_another_client_a_foreign_redirect_or_a_bad_name_get_nothing(console: LocalConsole):
    verifier, challenge = pkce()
    code = parse_qs(urlsplit(authorize(console, challenge).headers["Location"]).query)["code"][0]
    assert redeem(console, code, pkce()[0]).status_code == 400
    assert redeem(console, code, verifier).status_code == 400  # a failed attempt spends the code
    assert authorize(console, challenge, client_id="someone-else").status_code == 400
    assert authorize(console, challenge, redirect_uri="https://evil.example/").status_code == 400
    # Only the console's own address: no path of the caller's, no header smuggled into Location.
    assert authorize(console, challenge, redirect_uri=console.url + "x").status_code == 400
    smuggled = authorize(console, challenge, redirect_uri=console.url + "\r\nSet-Cookie: pwn=1")
    assert smuggled.status_code == 400 and "Set-Cookie" not in smuggled.headers
    assert authorize(console, challenge, code_challenge_method="plain").status_code == 400
    refused = authorize(console, challenge, username="<script>")
    assert refused.status_code == 400 and "<script>" not in refused.text


def test_the_console_is_served_with_its_configuration(console: LocalConsole):
    config = requests.get(console.origin + "/config.json", timeout=10).json()
    assert config["apiUrl"] == "http://127.0.0.1:1/prod/"
    assert config["auth"]["metadata"]["token_endpoint"] == console.origin + TOKEN
    index = requests.get(console.url, timeout=10)
    assert index.status_code == 200 and '<div id="app">' in index.text
    policy = dict(d.split(" ", 1) for d in index.headers["Content-Security-Policy"].split("; "))
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self' http://127.0.0.1:1 http://127.0.0.1:2"
    # Sent as written (requests would normalize the dots away before sending).
    connection = http.client.HTTPConnection("127.0.0.1", int(console.origin.rsplit(":", 1)[1]), timeout=10)
    connection.request("GET", "/../../../../etc/passwd")
    answer = connection.getresponse()
    assert answer.status == 404 and b"root:" not in answer.read()
    connection.close()
