"""An OIDC issuer on localhost, for the local stack in auth mode ``jwt``: HTTPS (a self-signed
certificate, trusted through ``SSL_CERT_FILE`` by the process that runs the authorizer), OIDC
discovery and a JWKS, and RS256 tokens for the client apps a test or a demonstration names.

The stack's authorizer is the real one (functions.authorizer): it discovers this issuer's keys
as it would Cognito's or Auth0's."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jose import jwk, jwt

AUDIENCE = "cpe-local"


class LocalIssuer:
    def __init__(self, port: int = 0) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="cpe-issuer-")
        folder = Path(self._directory.name)
        self._signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]
        public_pem = self._signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._jwks = {
            "keys": [{**jwk.construct(public_pem, "RS256").to_dict(), "kid": self.kid, "use": "sig"}]
        }
        self.ca_file, key_file = folder / "issuer.pem", folder / "issuer.key"
        _self_signed_certificate(self.ca_file, key_file)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="issuer", daemon=True)
        self._thread.start()

    def token(
        self, subject: str, *, client_id: str | None = None, lifetime: int = 3600, **claims: Any
    ) -> str:
        """An access token for ``subject`` (and ``client_id``: the app it was issued to)."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime,
            **({"client_id": client_id} if client_id else {}),
            **claims,
        }
        pem = self._signing.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return str(jwt.encode(body, pem.decode(), algorithm="RS256", headers={"kid": self.kid}))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._directory.cleanup()

    def __enter__(self) -> LocalIssuer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        def documents() -> dict[str, dict[str, Any]]:  # its URL is known once it listens
            return {
                "/.well-known/openid-configuration": {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"},
                "/jwks": issuer._jwks,
            }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents().get(self.path)
                body = json.dumps(document).encode() if document else b"{}"
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _self_signed_certificate(certificate: Path, key: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cpe local issuer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
