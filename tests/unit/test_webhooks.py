"""Each owner's webhook: its URL and secrets through the API (scoped to the caller, a secret
shown once, rotation with a grace), which targets the notifier queues, and which secrets sign."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bench.hostile import API_CONFIG
from functions.api import handler as api
from functions.api.webhooks import WebhookService
from functions.jobs.model import Job, JobStatus
from functions.messaging.memory import MemoryEventBus, MemoryQueue
from functions.notifier.logic import OwnerUrls, StateChangeNotifier
from functions.notifier.sender import Outcome, WebhookSender
from functions.shared.urls import UrlPolicy
from functions.store.base import LoadedJob
from functions.webhooks.registry import (
    MAX_SECRETS,
    ROTATION_GRACE_SECONDS,
    MemoryWebhookRegistry,
    OwnerWebhook,
    SigningSecret,
    WebhookConflict,
    rotated,
    with_url,
)
from local.apigateway import LOCAL_CALLER, call
from tests.unit.test_api import PEER, Api, Clock, _dns

HOOK = "https://hooks.example.com/cpe"


class Secrets:
    def __init__(self) -> None:
        self.made = 0

    def __call__(self) -> str:
        self.made += 1
        return f"whsec_{'c2VjcmV0LW51bWJlci0' + str(self.made) + 'AAAA'}"


@pytest.fixture
def hooks() -> Iterator[tuple[MemoryWebhookRegistry, Clock]]:
    registry, clock = MemoryWebhookRegistry(), Clock()
    service = WebhookService(registry, UrlPolicy(resolve=_dns), clock=clock, make_secret=Secrets())
    jobs = Api(API_CONFIG)
    api.app.dependency_overrides[api.get_service] = lambda: jobs.service
    api.app.dependency_overrides[api.get_webhooks] = lambda: service
    yield registry, clock
    api.app.dependency_overrides.clear()


def request(method: str, path: str, body: Any = None, principal: str = LOCAL_CALLER) -> tuple[int, Any]:
    status, _, answer = call(api.handler, method, path, body, principal=principal)
    return status, answer


@pytest.mark.usefixtures("hooks")
def test_the_first_put_makes_a_secret_shown_once_and_later_puts_change_only_the_url():
    status, made = request("PUT", "/webhook", {"url": HOOK})
    assert (status, made["url"]) == (201, HOOK)
    assert made["secret"].startswith("whsec_")
    status, again = request("PUT", "/webhook", {"url": HOOK + "/v2"})
    assert (status, again["url"], again["secret"]) == (200, HOOK + "/v2", None)
    status, read = request("GET", "/webhook")
    assert (status, read["secret"], len(read["secrets"])) == (200, None, 1)
    assert made["secret"] not in json.dumps(read)


def test_a_rotation_shows_the_new_secret_and_keeps_the_old_one_signing_for_a_day(hooks):
    registry, clock = hooks
    first = request("PUT", "/webhook", {"url": HOOK})[1]["secret"]
    status, turned = request("POST", "/webhook/rotate")
    assert status == 200 and turned["secret"] not in (None, first)
    newest, retiring = turned["secrets"]
    assert newest["expiresAt"] is None and retiring["expiresAt"] is not None
    stored = registry.get(LOCAL_CALLER)
    assert stored is not None
    assert stored.active_secrets(clock.now) == [turned["secret"], first]
    assert stored.active_secrets(clock.now + ROTATION_GRACE_SECONDS + 1) == [turned["secret"]]


@pytest.mark.usefixtures("hooks")
def test_another_owner_has_its_own_webhook_or_none_and_cannot_touch_mine():
    request("PUT", "/webhook", {"url": HOOK})
    for method, path in (("GET", "/webhook"), ("POST", "/webhook/rotate"), ("DELETE", "/webhook")):
        status, body = request(method, path, principal=PEER)
        assert (status, body["code"]) == (404, "WEBHOOK_NOT_FOUND"), (method, path)
    assert request("GET", "/webhook")[1]["url"] == HOOK
    assert request("DELETE", "/webhook")[0] == 204
    assert request("GET", "/webhook")[0] == 404


@pytest.mark.usefixtures("hooks")
@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://sneaky.example.com/x",
        "https://169.254.169.254/",
        "ftp://x",
        f"https://{'a' * 70}.example.com/",  # a label IDNA refuses: was a 500
    ],
)
def test_a_url_the_stack_must_not_call_is_refused(url: str):
    status, body = request("PUT", "/webhook", {"url": url})
    assert (status, body["code"]) == (400, "INVALID_REQUEST")
    assert request("GET", "/webhook")[0] == 404


def test_rotating_again_and_again_keeps_the_newest_secrets_only():
    webhook, _ = with_url(None, "o", HOOK, 0.0, lambda: "s0")
    for n in range(1, 6):
        webhook, _ = rotated(webhook, float(n), lambda n=n: f"s{n}")
    assert [s.value for s in webhook.secrets] == ["s5", "s4", "s3"][:MAX_SECRETS]
    assert len({webhook.revision, with_url(webhook, "o", HOOK, 9.0)[0].revision}) == 2


def test_a_rotation_that_read_a_webhook_since_deleted_and_made_again_cannot_bring_it_back():
    registry = MemoryWebhookRegistry()
    old, _ = with_url(None, "o", "https://old.example/h", 1.0, lambda: "whsec_old")
    registry.save(old, previous_revision=None)
    turned, _ = rotated(old, 2.0, lambda: "whsec_turned")  # read before the delete
    registry.delete("o")
    new, _ = with_url(None, "o", "https://new.example/h", 3.0, lambda: "whsec_new")
    registry.save(new, previous_revision=None)
    with pytest.raises(WebhookConflict):
        registry.save(turned, previous_revision=old.revision)
    assert registry.get("o") == new


# ------------------------------------------------------------------ the notifier and delivery


def loaded(owner: str | None, callback: str | None, status: JobStatus, version: int) -> LoadedJob:
    return LoadedJob(
        Job(jobId="j1", owner=owner, status=status, callbackUrl=callback, createdAt=1.0), version
    )


def test_an_owners_events_go_to_its_webhook_and_its_callbacks_signed_as_the_owner():
    bus, queue = MemoryEventBus(), MemoryQueue()
    urls = {"site-a": HOOK}
    notifier = StateChangeNotifier(
        bus, queue, webhook_urls=["https://ops.example/h"], progress_step=10, owner_url=urls.get
    )
    notifier.notify(
        loaded("site-a", None, JobStatus.SUBMITTED, 1),
        loaded("site-a", "https://cb.example/x", JobStatus.RUNNING, 2),
    )
    notifier.notify(
        loaded("site-b", None, JobStatus.SUBMITTED, 1),
        loaded("site-b", "https://cb.example/y", JobStatus.RUNNING, 2),
    )
    sent = [json.loads(body) for body in queue.sent]
    assert [(d["url"], d.get("owner"), d.get("webhook")) for d in sent] == [
        ("https://ops.example/h", None, None),  # the stack's: every job, the stack's secret
        (HOOK, "site-a", True),
        ("https://cb.example/x", "site-a", None),  # an owner with a webhook: its secret signs callbacks
        ("https://ops.example/h", None, None),
        ("https://cb.example/y", None, None),  # an owner without: the stack's secret, as before owners
    ]


def test_owner_urls_are_looked_up_once_per_batch():
    asked: list[str] = []
    urls = OwnerUrls(lambda owner: asked.append(owner) or HOOK)
    assert [urls("a"), urls("a"), urls("b")] == [HOOK, HOOK, HOOK]
    urls.forget()  # the next batch
    urls("a")
    assert asked == ["a", "b", "a"]


class RecordingHttp:
    """SafeHttp's place: what would be POSTed, answered 204."""

    sent: ClassVar[list[tuple[dict[str, str], str]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def request(self, method: str, url: str, *, headers: dict[str, str], body: bytes, **_: Any) -> Any:
        RecordingHttp.sent.append((headers, body.decode()))
        return self

    status = 204

    def close(self) -> None:
        pass


def test_a_delivery_for_an_owner_is_signed_with_its_secrets_only_and_dropped_once_it_has_none(
    monkeypatch: pytest.MonkeyPatch,
):
    owner_secret, stack_secret = "whsec_b3duZXItc2VjcmV0LTEyMzQ1Njc4", "whsec_c3RhY2stc2VjcmV0LTEyMzQ1Njc4"
    registry = MemoryWebhookRegistry()
    registry.save(
        OwnerWebhook("site-a", HOOK, (SigningSecret(owner_secret, 0.0),), 0.0), previous_revision=None
    )
    monkeypatch.setattr("functions.notifier.sender.SafeHttp", RecordingHttp)
    RecordingHttp.sent = []
    sender = WebhookSender(
        MemoryQueue(),
        lambda: [stack_secret],
        policy=UrlPolicy(resolve=_dns),
        owner_webhook=registry.get,
    )
    message = json.dumps({"url": HOOK, "event": {"id": "evt_1"}, "owner": "site-a", "webhook": True})
    assert sender.attempt(message, "r1", 1, int(time.time())).outcome is Outcome.DELIVERED
    ((headers, body),) = RecordingHttp.sent
    assert Webhook(owner_secret).verify(body, headers) == {"id": "evt_1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(stack_secret).verify(body, headers)  # another app, holding the stack's secret
    moved = with_url(registry.get("site-a"), "site-a", "https://new.example.com/h", 1.0)[0]
    registry.save(moved, previous_revision=registry.get("site-a").revision)  # type: ignore[union-attr]
    assert sender.attempt(message, "r2", 1, int(time.time())).outcome is Outcome.REFUSED  # not the old URL
    registry.delete("site-a")
    callback = json.dumps({"url": "https://cb.example.com/x", "event": {"id": "evt_2"}, "owner": "site-a"})
    assert sender.attempt(callback, "r3", 1, int(time.time())).outcome is Outcome.REFUSED
    assert len(RecordingHttp.sent) == 1
