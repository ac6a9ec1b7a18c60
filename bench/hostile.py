"""Hostile input for the fuzzers (tests/unit/test_fuzz.py, and bench.fuzz at bigger counts): what
an attacker, a buggy client or a broken CT stack could send, and the outcome each fuzzed input must
have. An outcome is a label (``"201"``, ``"400 VALIDATION_ERROR"``, ``"poison NOT_JSON"``,
``"parsed ACTIVITY_PROGRESS"``); anything else (an exception, a 5xx) fails the fuzzer."""

from __future__ import annotations

import copy
import json
import re
import socket
from typing import Any

from hypothesis import strategies as st

from functions.api import handler as api
from functions.api.service import ApiConfig, JobService
from functions.jobs.errors import PoisonMessage
from functions.jobs.names import check_key
from functions.jobs.rules import CompletionRule
from functions.messaging.memory import MemoryQueue
from functions.shared.urls import UrlPolicy, check_fetchable_url
from functions.store.memory import MemoryJobStore
from functions.tracker.logic import BatchTracker, InboundMessage
from local.apigateway import proxy_event, response_parts
from local.ct_simulator import CtRun, Transcode, run_messages
from local.event_source import LambdaContext

# The API's configuration in the fuzzers and the unit tests: a stack with the defaults.
API_CONFIG = ApiConfig(
    client_name="SiteA",
    input_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/cpe-input",
    output_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/cpe-output",
    workflow={"name": "Transcode", "version": "1.0", "taskList": "basic_transcode", "domain": "SADomain"},
)
# What DNS answers in the fuzzers: public names, and names an attacker points inside.
DNS = {
    "media.example.com": ["93.184.216.34"],
    "rebound.example.com": ["169.254.169.254"],
    "inside.example.com": ["10.0.0.7"],
    "v6.example.com": ["::ffff:127.0.0.1"],
}
VIDEO_JOB: dict[str, Any] = {
    "input_asset": {"type": "VIDEO", "bucket": "site-uploads", "file": "/input/video1.mp4"},
    "output_assets": [
        {"type": "VIDEO", "bucket": "site-media", "file": "/output/video1.mp4", "preset": "720p-generic"},
        {"type": "THUMB", "bucket": "site-media", "file": "/output/t.jpg", "snapshot_sec": 3},
    ],
    "callbackUrl": "https://media.example.com/hook",
}


JSON = {"Content-Type": "application/json"}


def resolve(host: str) -> list[str]:
    if host not in DNS:
        raise socket.gaierror(f"no such host {host}")
    return DNS[host]


# ------------------------------------------------------------------ strategies

TRAVERSALS = [
    "../../etc/passwd",
    "/out/../../secret",
    "out/./x",
    "..",
    "/..",
    "out//x",
    "out\\..\\x",
    "%2e%2e/%2e%2e/x",
    "out/\x00.mp4",
    "out/\u202e4pm.exe",
    "\u2025/x",
    "/",
    "",
]
SSRF_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest",
    "https://localhost/x",
    "https://127.1/x",
    "https://2130706433/x",
    "https://0x7f.0.0.1/x",
    "https://[::1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://10.0.0.7/x",
    "https://100.64.0.1/x",
    "https://metadata.google.internal/x",
    "https://rebound.example.com/x",
    "https://inside.example.com/x",
    "https://v6.example.com/x",
    "https://user:pass@media.example.com/x",
    "https://media.example.com:0/x",
    "file:///etc/passwd",
    "gopher://media.example.com/x",
    "ftp://media.example.com/x",
    "https://media.example.com/\r\nX-Injected: 1",
    "https://",
    "https://media.example.com/ok",
]
huge_strings = st.sampled_from([10_000, 100_000, 1_000_000]).map(lambda n: "A" * n)
unicode_text = st.text(st.characters(codec="utf-8"), max_size=64)
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=4)
hostile_strings = st.one_of(
    st.sampled_from(TRAVERSALS),
    st.sampled_from(SSRF_URLS),
    st.integers(1, 50).map(lambda n: "../" * n + "etc/passwd"),
    huge_strings,
    unicode_text,
    surrogates,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(unicode_text, children, max_size=4),
    max_leaves=12,
)
deep_nesting = st.integers(50, 20_000).flatmap(
    lambda depth: st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
)


# Number literals a JSON parser must refuse or read without failing: more digits than Python turns
# into an int by default, long fractions, exponents past a float's range, negative zero.
number_literals = st.one_of(
    st.sampled_from([4300, 4301, 5000, 100_000]).map(lambda n: "1" + "0" * n),
    st.sampled_from([20, 400, 5000]).map(lambda n: "-" + "9" * n),
    st.sampled_from([20, 400, 10_000]).map(lambda n: "0." + "3" * n),
    st.sampled_from(["1e999", "-1E999", "1e-999", "1e+308", "2e308", "4.9e-324", "-0", "-0.0e0"]),
    st.integers(0, 10**6).map(lambda n: f"{n}e{n}"),
)
_LITERAL = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_NUMBER = re.compile(rf"(?<=[:\[,] ){_LITERAL}|(?<=[:\[,]){_LITERAL}")  # a value, after ": " or ","


@st.composite
def with_hostile_number(draw: st.DrawFn, text: str) -> str:
    """JSON text with one of its number literals replaced by a hostile one."""
    found = list(_NUMBER.finditer(text))
    if not found:
        return text
    where = draw(st.sampled_from(found))
    return text[: where.start()] + draw(number_literals) + text[where.end() :]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """The document with one to three places replaced by hostile values, removed, or nested deep."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(result)))
        replacement = draw(
            st.one_of(
                json_values,
                hostile_strings,
                st.just(_REMOVE),
                st.integers(1, 200).map(_nest),
            )
        )
        if not path:
            result = None if replacement is _REMOVE else replacement
            continue
        *parents, last = path
        container = result
        for step in parents:
            container = container[step]
        if replacement is _REMOVE:
            del container[last]
        else:
            container[last] = replacement
    return result


_REMOVE = object()


def _nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


VALID_RUN = run_messages(
    CtRun("0123456789abcdef0123456789abcdef", "run-1", "wf-1", transcodes=(Transcode(progress=(50,)),))
)


def output_bodies() -> st.SearchStrategy[str]:
    """Output-queue bodies: real CT messages mutated, any JSON, deep nesting, and any text."""
    documents = st.sampled_from(VALID_RUN)
    return st.one_of(
        documents.flatmap(mutated).map(json.dumps),
        documents.map(json.dumps).flatmap(with_hostile_number),
        json_values.map(json.dumps),
        deep_nesting,
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    )


@st.composite
def hostile_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A valid job with hostile strings in the fields the stack acts on: keys it writes, buckets,
    URLs it fetches or calls, names it passes on."""
    job = copy.deepcopy(VIDEO_JOB)
    if draw(st.booleans()):
        job["input_asset"] = {"type": "VIDEO", "http": draw(hostile_strings)}
    targets: list[tuple[Any, ...]] = [("input_asset", "file"), ("input_asset", "bucket"), ("callbackUrl",)]
    targets.append(("jobId",))
    targets += [("output_assets", 0, name) for name in ("file", "path", "bucket", "preset", "video_codec")]
    targets += [("output_assets", 1, "file"), ("workflow",)]
    for path in draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3, unique=True)):
        *parents, last = path
        container: Any = job
        for step in parents:
            container = container[step]
        if isinstance(container, dict):
            container[last] = draw(hostile_strings)
    return job


def submit_bodies() -> st.SearchStrategy[bytes]:
    """``POST /jobs`` bodies: hostile values in a valid job's fields, a valid job mutated anywhere,
    any JSON, deep nesting, and bytes that are not JSON or not UTF-8."""
    return st.one_of(
        hostile_fields().map(lambda d: json.dumps(d).encode()),
        mutated(VIDEO_JOB).map(lambda d: json.dumps(d).encode()),
        st.just(json.dumps(VIDEO_JOB)).flatmap(with_hostile_number).map(str.encode),
        json_values.map(lambda d: json.dumps(d).encode()),
        deep_nesting.map(str.encode),
        st.binary(max_size=200),
    )


# ------------------------------------------------------------------ outcomes


def parse_outcome(body: str) -> str:
    from functions.jobs.protocol import parse_output_message  # noqa: PLC0415

    try:
        message = parse_output_message(body, 1_700_000_000.0)
    except PoisonMessage as poison:
        if not poison.detail:
            raise AssertionError(f"poison without a detail: {body[:200]!r}") from poison
        return f"poison {poison.reason.value}"
    return f"parsed {message.type.value}"


def track_outcome(body: str) -> str:
    """The message tracked onto a job that exists (so fuzzed messages can land on it)."""
    store = MemoryJobStore()
    tracker = BatchTracker(store, CompletionRule())
    for message in VALID_RUN:
        tracker.track([InboundMessage("ok", json.dumps(message), 1.0)])
    failure = tracker.track([InboundMessage("m", body, 1_700_000_000.0)]).failures.get("m")
    if failure is None:
        return "applied or parked"
    # In memory nothing is temporarily unavailable: a retryable failure would be a defect.
    if failure.retryable or not failure.reason or not failure.detail:
        raise AssertionError(f"{failure} for {body[:200]!r}")
    return f"rejected {failure.reason}"


def submit_outcome(body: bytes) -> str:
    with FuzzedApi() as api:
        return api.submit_outcome(body)


class FuzzedApi:
    """The API handler in process, on the in-memory store and queue, with the fuzzers' DNS."""

    def __init__(self) -> None:
        self.queue = MemoryQueue()
        self.service = JobService(MemoryJobStore(), self.queue, API_CONFIG, CompletionRule(), resolve=resolve)

    def __enter__(self) -> FuzzedApi:
        api.app.dependency_overrides[api.get_service] = lambda: self.service
        return self

    def __exit__(self, *exc: object) -> None:
        api.app.dependency_overrides.clear()

    def submit_outcome(self, body: bytes) -> str:
        sent = len(self.queue.sent)
        # Text as API Gateway passes it; anything else base64-encoded, as it passes binary bodies.
        try:
            event = proxy_event("POST", "/jobs", body=body.decode(), headers=JSON)
        except UnicodeDecodeError:
            event = proxy_event("POST", "/jobs", body=body, headers=JSON)
        status, _headers, raw = response_parts(api.handler(event, LambdaContext(function_name="api")))
        answer = json.loads(raw) if raw else None
        assert status < 500, f"{status} for {body[:200]!r}: {answer}"
        if status >= 400:
            assert isinstance(answer, dict) and set(answer) == {"code", "message", "details"}, answer
            assert len(self.queue.sent) == sent, "a refused job sent a command"
            return f"{status} {answer['code']}"
        (command,) = self.queue.sent[sent:]
        _assert_safe(json.loads(command)["data"])
        return str(status)


def _assert_safe(payload: dict[str, Any]) -> None:
    """What an accepted job makes the stack touch: keys that stay in their prefix, public URLs."""
    assets = [payload["input_asset"], *(payload.get("output_assets") or [payload.get("output_asset")])]
    for asset in assets:
        for name in ("file", "path"):
            if asset.get(name) is not None:
                check_key(asset[name])
        if asset.get("watermark"):
            check_key(asset["watermark"]["file"])
        if asset.get("http"):
            check_fetchable_url(asset["http"], UrlPolicy(frozenset({"http", "https"}), resolve=resolve))
