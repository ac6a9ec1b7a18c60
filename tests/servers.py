"""Small HTTP servers on loopback for tests: inputs and webhook receivers that answer as a test
needs, well or badly (an endless body, a drip)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any


class Server:
    """An HTTP server on loopback answering with ``answer(handler)``; counts its requests."""

    def __init__(
        self, answer: Callable[[http.server.BaseHTTPRequestHandler], None], tls: ssl.SSLContext | None = None
    ):
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                server.requests.append((self.command, self.path, dict(self.headers)))
                answer(self)

            do_GET = do_HEAD = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()


def reply(status: int, body: bytes = b"", **headers: str) -> Callable[[Any], None]:
    def answer(handler: Any) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    return answer


def endless(handler: Any) -> None:
    handler.send_response(200)
    handler.end_headers()  # no Content-Length: the body never says where it ends
    try:
        while True:
            handler.wfile.write(b"x" * 65536)
    except OSError:
        pass


def drip(every_seconds: float, length: int = 10_000_000) -> Callable[[Any], None]:
    """A body that declares ``length`` bytes and sends one every ``every_seconds`` (HEAD answers
    at once, so the input looks fine until it is read)."""

    def answer(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(length))
        handler.send_header("Accept-Ranges", "none")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        try:
            for _ in range(length):
                handler.wfile.write(b"\x00")
                handler.wfile.flush()
                time.sleep(every_seconds)
        except OSError:
            pass  # the reader gave up

    return answer
