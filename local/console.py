"""The jobs console on the local stack: its built files (``console/dist``, ``make console``), its
``config.json`` naming the local API and issuer, and a local sign-in that plays the part Cognito's
managed login plays in AWS: OAuth 2.0's authorization code flow with PKCE (RFC 7636), so the
console signs in here exactly as it does there.

Any name signs in (there are no passwords: the stack is on loopback, for one developer); each name is
an owner of its jobs, and the names given as operators see everyone's. Tokens are the local issuer's
(local.issuer), which the stack's real authorizer checks."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from infra.console_policy import content_security_policy
from local.embedded import environment
from local.issuer import AUDIENCE, LocalIssuer
from local.stack import LocalStack, local_stack

DIST = Path(__file__).resolve().parent.parent / "console" / "dist"
SIGN_IN_PAGE = Template((Path(__file__).resolve().parent / "sign_in.html").read_text(encoding="utf-8"))
CLIENT_ID = "cpe-console"
CODE_SECONDS = 60
TOKEN_SECONDS = 3600
AUTHORIZE = "/local-sign-in/authorize"
TOKEN = "/local-sign-in/token"  # noqa: S105  (a path, not a secret)
NAME_PATTERN = r"[A-Za-z0-9_.@\-]{1,64}"


OPERATOR = "operator"


class ConsoleNotBuilt(RuntimeError):
    pass


@dataclass(frozen=True)
class _Grant:
    user: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    expires: float


class LocalConsole:
    """Serves the console and its sign-in on ``127.0.0.1:port`` (0: any free port)."""

    def __init__(self, issuer: LocalIssuer, *, port: int = 0, dist: Path = DIST) -> None:
        if not (dist / "index.html").is_file():
            raise ConsoleNotBuilt(f"the console is not built ({dist}/index.html missing): run `make console`")
        self._issuer = issuer
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self.api_url = ""
        self.policy = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Handler, self, directory=str(dist)))
        self.origin = f"http://127.0.0.1:{self._server.server_port}"
        self.url = f"{self.origin}/"

    def serve(self, api_url: str, media_url: str) -> None:
        """Starts serving, the console talking to the API at ``api_url``, its media links on
        ``media_url`` (the local S3), under the Content Security Policy CloudFront sends in AWS."""
        self.api_url = api_url
        self.policy = content_security_policy(api=_origin(api_url), media=[_origin(media_url)], sign_in=[])
        threading.Thread(target=self._server.serve_forever, name="console", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalConsole:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ what the handler asks

    def config(self) -> dict[str, Any]:
        return {
            "apiUrl": self.api_url,
            "auth": {
                "authority": self._issuer.url,
                "clientId": CLIENT_ID,
                "scope": "openid",
                "tokenUse": "access",
                # The browser cannot read the issuer's discovery (its certificate is this run's own).
                "metadata": {
                    "issuer": self._issuer.url,
                    "authorization_endpoint": self.origin + AUTHORIZE,
                    "token_endpoint": self.origin + TOKEN,
                },
            },
        }

    def grant(self, user: str, redirect_uri: str, challenge: str, nonce: str | None) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(user, redirect_uri, challenge, nonce, time.monotonic() + CODE_SECONDS)
        return code

    def redeem(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any] | None:
        """The tokens for ``code`` (once), if the verifier and redirect match; else None."""
        with self._lock:
            grant = self._grants.pop(code, None)
        if grant is None or grant.expires < time.monotonic() or grant.redirect_uri != redirect_uri:
            return None
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not secrets.compare_digest(digest, grant.challenge):
            return None
        nonce = {"nonce": grant.nonce} if grant.nonce else {}
        return {
            "access_token": self._issuer.token(grant.user, client_id=CLIENT_ID, lifetime=TOKEN_SECONDS),
            "id_token": self._issuer.token(
                grant.user, lifetime=TOKEN_SECONDS, aud=CLIENT_ID, preferred_username=grant.user, **nonce
            ),
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
        }


@dataclass(frozen=True)
class ConsoleStack:
    stack: LocalStack
    console: LocalConsole
    issuer: LocalIssuer


@contextmanager
def console_stack(
    *,
    console_port: int = 0,
    issuer_port: int = 0,
    config: Mapping[str, Any] | None = None,
    **stack_options: Any,
) -> Iterator[ConsoleStack]:
    """The local stack in auth mode jwt (the local issuer's tokens), with the console served and
    allowed as a browser origin. ``config`` adds to the stack's configuration; ``stack_options`` go
    to local.stack.local_stack. Fixed ports keep the synthesized template cached between runs."""
    with LocalIssuer(port=issuer_port) as issuer, LocalConsole(issuer, port=console_port) as console:
        stack_config = {
            **(config or {}),
            "auth": {"mode": "jwt", "issuer": issuer.url, "audience": [AUDIENCE]},
            "owners": {"operators": [OPERATOR]},
            "cors": {"allowedOrigins": [console.origin]},
        }
        # The authorizer reaches the issuer over HTTPS: its certificate is this run's own.
        with (
            environment(SSL_CERT_FILE=str(issuer.ca_file)),
            local_stack(config=stack_config, **stack_options) as stack,
        ):
            console.serve(stack.api_url, stack.aws.endpoint)
            yield ConsoleStack(stack, console, issuer)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, console: LocalConsole, *args: Any, **kwargs: Any) -> None:
        self.console = console
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", self.console.policy)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/config.json":
            self._send(200, "application/json", json.dumps(self.console.config()).encode())
        elif path == AUTHORIZE:
            self._authorize(parse_qs(query))
        else:
            super().do_GET()

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= 16_384:
            self._send(400, "text/plain", b"a form of 0 to 16384 bytes, with its Content-Length")
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        path = self.path.partition("?")[0]
        if path == AUTHORIZE:
            self._signed_in(form)
        elif path == TOKEN:
            self._token(form)
        else:
            self._send(404, "text/plain", b"not found")

    # ------------------------------------------------------------------ the sign-in

    def _authorize(self, query: dict[str, list[str]], problem: str = "") -> None:
        request = {name: values[0] for name, values in query.items() if values}
        refusal = self._refusal(request)
        if refusal:
            self._send(400, "text/plain; charset=utf-8", refusal.encode())
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.items()
            if k in ("client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "nonce")
        )
        alert = f'<p role="alert" class="problem">{html.escape(problem)}</p>' if problem else ""
        page = SIGN_IN_PAGE.substitute(hidden=hidden, alert=alert, pattern=html.escape(NAME_PATTERN))
        self._send(400 if problem else 200, "text/html; charset=utf-8", page.encode())

    def _refusal(self, request: dict[str, str]) -> str:
        if request.get("client_id") != CLIENT_ID:
            return f"unknown client_id: this sign-in serves {CLIENT_ID} only"
        # Exactly the console's address: nothing of the caller's reaches the Location header.
        if request.get("redirect_uri") != self.console.url:
            return f"redirect_uri must be the console's address, {self.console.url}"
        if request.get("response_type", "code") != "code":
            return "only response_type=code is supported"
        if request.get("code_challenge_method") != "S256" or not request.get("code_challenge"):
            return "PKCE with code_challenge_method=S256 is required"
        return ""

    def _signed_in(self, form: dict[str, list[str]]) -> None:
        request = {name: values[0] for name, values in form.items() if values}
        user = request.get("username", "").strip()
        if not re.fullmatch(NAME_PATTERN, user):
            self._authorize(form, problem="Give a name of 1 to 64 letters, digits, or . _ @ -")
            return
        refusal = self._refusal(request)
        if refusal:
            self._send(400, "text/plain; charset=utf-8", refusal.encode())
            return
        code = self.console.grant(
            user, request["redirect_uri"], request["code_challenge"], request.get("nonce")
        )
        answer = {"code": code, **({"state": request["state"]} if "state" in request else {})}
        self.send_response(303)
        self.send_header("Location", f"{self.console.url}?{urlencode(answer)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _token(self, form: dict[str, list[str]]) -> None:
        request = {name: values[0] for name, values in form.items() if values}
        tokens = None
        if request.get("grant_type") == "authorization_code" and request.get("client_id") == CLIENT_ID:
            tokens = self.console.redeem(
                request.get("code", ""), request.get("redirect_uri", ""), request.get("code_verifier", "")
            )
        if tokens is None:
            body = {
                "error": "invalid_grant",
                "error_description": "unknown, used or expired code, or PKCE failed",
            }
            self._send(400, "application/json", json.dumps(body).encode())
            return
        self._send(200, "application/json", json.dumps(tokens).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
