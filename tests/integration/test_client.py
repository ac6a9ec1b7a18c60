"""The API's Python client and CLI against a scripted API on loopback: retries that honour
Retry-After with one Idempotency-Key, and one clear line (no traceback) for every mistake."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cpe_client.cli import run
from cpe_client.client import ApiError, ClientError, JobsClient

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
JOB = {"input_asset": {"type": "VIDEO", "bucket": "b-1", "file": "/in.mp4"}}


class ScriptedApi(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next (status, body, headers) of ``script``, then 200 {}."""

    script: ClassVar[list[tuple[int, Any, dict[str, str]]]] = []
    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        ScriptedApi.seen.append((self.command, self.path, dict(self.headers)))
        status, body, headers = ScriptedApi.script.pop(0) if ScriptedApi.script else (200, {}, {})
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    ScriptedApi.script, ScriptedApi.seen = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ScriptedApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prod/"
    server.shutdown()


def error(code: str) -> dict[str, Any]:
    return {"code": code, "message": "retry", "details": None}


def test_a_submit_answered_429_and_in_progress_is_repeated_with_one_idempotency_key(api):
    ScriptedApi.script = [
        (429, error("THROTTLED"), {"Retry-After": "3"}),
        (409, error("REQUEST_IN_PROGRESS"), {"Retry-After": "2"}),
        (202, {"jobId": "j-1", "status": "SUBMITTED"}, {}),
    ]
    pauses: list[float] = []
    answer = JobsClient(api, sleep=pauses.append).submit(JOB)
    assert answer["jobId"] == "j-1" and pauses == [3.0, 2.0]
    keys = {headers["Idempotency-Key"] for _, _, headers in ScriptedApi.seen}
    assert len(ScriptedApi.seen) == 3 and len(keys) == 1 and len(keys.pop()) >= 16


def test_retries_stop_after_the_last_attempt_and_other_errors_are_not_retried(api):
    ScriptedApi.script = [(503, error("QUEUE_UNAVAILABLE"), {})] * 3
    pauses: list[float] = []
    with pytest.raises(ApiError) as unavailable:
        JobsClient(api, sleep=pauses.append, max_attempts=3).submit(JOB, idempotency_key="k")
    assert unavailable.value.status == 503 and len(pauses) == 2 and len(ScriptedApi.seen) == 3
    ScriptedApi.script = [(400, error("INVALID_REQUEST"), {})]
    with pytest.raises(ApiError):
        JobsClient(api, sleep=pauses.append).submit(JOB)
    assert len(ScriptedApi.seen) == 4


def test_mistakes_get_one_clear_line_and_exit_2(api, tmp_path, monkeypatch, capsys):
    not_json = tmp_path / "job.json"
    not_json.write_text("{ not json")
    odd = tmp_path / "clip.zzz-unknown"
    odd.write_bytes(b"?")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}/prod/"  # bound, never listening
    cases = [
        (["--endpoint", nobody, "get", "j-1"], "cannot reach"),
        (["--endpoint", "localhost:8000/prod", "get", "j-1"], "must be an http(s) URL"),
        (["--endpoint", api, "submit", str(not_json)], "is not JSON"),
        (["--endpoint", api, "submit", str(tmp_path / "missing.json")], "cannot read the job file"),
        (["--endpoint", api, "upload", str(tmp_path / "missing.mp4")], "no such file"),
        (["--endpoint", api, "upload", str(odd)], "cannot tell the content type"),
        (["--endpoint", api, "webhook", "set"], "needs the URL"),
    ]
    for argv, says in cases:
        assert run(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and says in line
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert run(["--endpoint", api, "get", "j-1"]) == 2
    assert "no AWS region" in capsys.readouterr().err
    with pytest.raises(ClientError):
        JobsClient("ftp://example.com/")


def test_an_upload_answered_without_a_form_is_an_api_error_not_a_traceback(api, tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0")
    ScriptedApi.script = [(201, {"uploadId": "u1"}, {})]
    assert run(["--endpoint", api, "upload", str(clip)]) == 1
    assert json.loads(capsys.readouterr().err)["code"] == "UNEXPECTED_ANSWER"


def test_an_api_error_is_its_json_on_stderr_and_exit_1(api, capsys):
    ScriptedApi.script = [(404, {"code": "JOB_NOT_FOUND", "message": "no job j-9", "details": None}, {})]
    assert run(["--endpoint", api, "get", "j-9"]) == 1
    assert json.loads(capsys.readouterr().err)["code"] == "JOB_NOT_FOUND"


def test_output_piped_into_a_reader_that_stops_early_raises_nothing(api):
    ScriptedApi.script = [(200, {"items": [{"jobId": f"j-{n}", "pad": "x" * 200} for n in range(2000)]}, {})]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    listing = subprocess.Popen(  # noqa: S603 - this interpreter and the project's module
        [sys.executable, "-m", "cpe_client", "--endpoint", api, "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        cwd=ROOT,
    )
    assert listing.stdout is not None and listing.stderr is not None
    listing.stdout.read(10)
    listing.stdout.close()  # what `| head -c 10` does
    errors = listing.stderr.read().decode()
    assert listing.wait(timeout=60) in (0, 1) and "Traceback" not in errors and "BrokenPipe" not in errors
