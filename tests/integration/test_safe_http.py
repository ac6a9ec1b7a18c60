"""The SSRF-safe HTTP client against real servers on loopback: redirects to inside are refused,
connections go to the address the check passed (DNS rebinding), TLS names the URL's host, bodies
have a byte cap and a deadline; and the engine's input fetches and the webhook sender use it."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.errors import ActivityError, Reason
from engine.sources import INPUT_URLS, InputLimits, InputRef, Sources
from functions.messaging.memory import MemoryQueue
from functions.notifier.sender import Outcome, WebhookSender
from functions.shared.http import HttpFailed, SafeHttp, TooLarge, TooSlow
from functions.shared.urls import UnsafeUrl, UrlPolicy
from tests.servers import Server, endless, reply

pytestmark = pytest.mark.integration


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def serve(servers: list[Server], answer: Callable[[Any], None], tls: ssl.SSLContext | None = None) -> Server:
    server = Server(answer, tls)
    servers.append(server)
    return server


def test_a_redirect_to_an_inside_address_is_refused_and_never_requested(servers):
    inside = serve(servers, reply(200, b"secret"))
    outside = serve(servers, reply(302, Location=f"http://{inside.endpoint}/secret"))
    metadata = serve(servers, reply(301, Location="http://169.254.169.254/latest/meta-data/"))
    http = SafeHttp(UrlPolicy(frozenset({"http"}), trusted=frozenset({outside.endpoint, metadata.endpoint})))
    for start in (outside, metadata):
        with pytest.raises(UnsafeUrl):
            http.request("GET", f"http://{start.endpoint}/video.mp4", follow_redirects=True)
    assert inside.requests == []
    not_followed = http.request("GET", f"http://{outside.endpoint}/video.mp4", follow_redirects=False)
    assert not_followed.status == 302
    not_followed.close()
    with pytest.raises(UnsafeUrl):  # the same URL given directly is refused too
        http.request("GET", f"http://{inside.endpoint}/secret")


def test_a_redirect_to_another_allowed_address_is_followed(servers):
    target = serve(servers, reply(200, b"video"))
    start = serve(servers, reply(307, Location=f"http://{target.endpoint}/v.mp4"))
    policy = UrlPolicy(frozenset({"http"}), trusted=frozenset({start.endpoint, target.endpoint}))
    answer = SafeHttp(policy).request("GET", f"http://{start.endpoint}/start", follow_redirects=True)
    assert (answer.status, answer.read(100)) == (200, b"video")


def test_the_connection_goes_to_the_address_the_check_passed(monkeypatch):
    """A name that answers a public address to the check and loopback afterwards (rebinding): the
    socket is opened to the checked address, and the name is never resolved again."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    connected: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        connected.append(address)
        raise ConnectionRefusedError("not in this test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    monkeypatch.setattr("urllib3.connection.connection.create_connection", refuse)
    http = SafeHttp(UrlPolicy(frozenset({"http"}), resolve=lambda host: next(answers)))
    with pytest.raises(HttpFailed):
        http.request("GET", "http://rebound.example.com/v.mp4")
    assert connected == [("93.184.216.34", 80)]
    assert next(answers) == ["127.0.0.1"]  # the second answer was never asked for


def _certificate(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(("served_as", "ok"), [("media.example.com", True), ("other.example.com", False)])
def test_tls_names_the_urls_host_while_connecting_to_the_checked_address(servers, tmp_path, served_as, ok):
    cert, key = _certificate(served_as, tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = serve(servers, reply(200, b"ok"), tls=server_tls)
    client_tls = ssl.create_default_context(cafile=str(cert))
    policy = UrlPolicy(
        trusted=frozenset({f"media.example.com:{server.port}"}), resolve=lambda host: ["127.0.0.1"]
    )
    http = SafeHttp(policy, ssl_context=client_tls)
    url = f"https://media.example.com:{server.port}/v.mp4"
    if ok:
        answer = http.request("GET", url)
        assert (answer.status, answer.read(10)) == (200, b"ok")
        assert server.requests[0][2]["Host"] == f"media.example.com:{server.port}"
    else:
        with pytest.raises(HttpFailed, match=r"(?i)hostname|certificate"):
            http.request("GET", url)


def test_a_body_without_end_is_cut_at_the_byte_cap(servers):
    server = serve(servers, endless)
    answer = SafeHttp(UrlPolicy(frozenset({"http"}), trusted=frozenset({server.endpoint}))).request(
        "GET", f"http://{server.endpoint}/forever"
    )
    with pytest.raises(TooLarge):
        answer.read(1_000_000)


def test_a_body_that_drips_is_cut_at_the_deadline(servers):
    release = threading.Event()

    def drip(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            if release.wait(0.05):
                return

    server = serve(servers, drip)
    now = iter([0.0, 0.0, 5.0, 50.0, 500.0])  # time as the reader sees it: past the deadline soon
    http = SafeHttp(
        UrlPolicy(frozenset({"http"}), trusted=frozenset({server.endpoint})), clock=lambda: next(now)
    )
    answer = http.request("GET", f"http://{server.endpoint}/drip")
    try:
        with pytest.raises(TooSlow):
            answer.read(10_000, deadline=10.0)
    finally:
        release.set()


def test_the_engines_input_fetch_refuses_a_redirect_inside(servers, tmp_path):
    inside = serve(servers, reply(200, b"secret"))
    outside = serve(servers, reply(302, Location=f"http://{inside.endpoint}/secret"))
    policy = UrlPolicy(frozenset({"http", "https"}), trusted=frozenset({outside.endpoint}))
    sources = Sources(s3=None, limits=InputLimits(http_policy=policy))
    ref = InputRef(url=f"http://{outside.endpoint}/video.mp4")
    for attempt in (lambda: sources.open_ranged(ref), lambda: sources.download(ref, tmp_path / "in", print)):
        with pytest.raises(ActivityError) as refused:
            attempt()
        assert refused.value.reason is Reason.INPUT_UNREACHABLE
    assert inside.requests == []


def test_the_engines_download_stops_at_the_byte_cap(servers, tmp_path):
    server = serve(servers, endless)
    policy = UrlPolicy(INPUT_URLS.schemes, trusted=frozenset({server.endpoint}))
    sources = Sources(s3=None, limits=InputLimits(max_bytes=2_000_000, http_policy=policy))
    with pytest.raises(ActivityError) as refused:
        sources.download(
            InputRef(url=f"http://{server.endpoint}/forever.mp4"), tmp_path / "in", lambda _: None
        )
    assert refused.value.reason is Reason.INPUT_TOO_LARGE


def test_a_webhook_answered_with_a_redirect_is_a_failed_attempt_and_the_target_gets_nothing(servers):
    target = serve(servers, reply(200))
    receiver = serve(servers, reply(303, Location=f"http://{target.endpoint}/"))
    queue = MemoryQueue()
    sender = WebhookSender(
        queue,
        lambda: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        policy=UrlPolicy(trusted=frozenset({receiver.endpoint, target.endpoint})),
        jitter=lambda: 0.0,
    )
    message = json.dumps({"url": f"http://{receiver.endpoint}/hook", "event": {"id": "evt_1"}})
    attempt = sender.attempt(message, "receipt-1", 1, 1_700_000_000)
    assert attempt.outcome is Outcome.RETRY and "HTTP 303" in attempt.detail
    assert queue.visibility == {"receipt-1": attempt.next_in}
    assert [request[0] for request in receiver.requests] == ["POST"] and target.requests == []
