"""The owners' webhooks in DynamoDB (moto): a round trip, conditional writes, the URL alone."""

from __future__ import annotations

import boto3
import pytest

from functions.webhooks.dynamo import DynamoWebhookRegistry
from functions.webhooks.registry import WebhookConflict, rotated, with_url
from local.resources import create_webhooks_table
from tests.integration.conftest import REGION

TABLE = "owner-webhooks"


@pytest.fixture
def registry(aws: None) -> DynamoWebhookRegistry:
    client = boto3.client("dynamodb", region_name=REGION)
    create_webhooks_table(client, TABLE)
    return DynamoWebhookRegistry(lambda: client, TABLE)


def test_a_webhook_round_trips_through_rotation_and_removal(registry: DynamoWebhookRegistry):
    made, secret = with_url(None, "site-a", "https://a.example/h", 100.5, lambda: "whsec_AAAA")
    registry.save(made, previous_revision=None)
    assert registry.get("site-a") == made
    turned, new = rotated(made, 200.25, lambda: "whsec_BBBB")
    registry.save(turned, previous_revision=made.revision)
    stored = registry.get("site-a")
    assert stored == turned and stored.active_secrets(201.0) == [new, secret]
    assert registry.url_of("site-a") == "https://a.example/h"
    assert (registry.url_of("nobody"), registry.get("nobody")) == (None, None)
    assert registry.delete("site-a") is True and registry.delete("site-a") is False


def test_a_write_that_lost_a_race_is_refused(registry: DynamoWebhookRegistry):
    made, _ = with_url(None, "site-a", "https://a.example/h", 1.0)
    registry.save(made, previous_revision=None)
    with pytest.raises(WebhookConflict):
        registry.save(made, previous_revision=None)  # a second "first" PUT
    moved, _ = with_url(made, "site-a", "https://a.example/2", 2.0)
    registry.save(moved, previous_revision=made.revision)
    stale, _ = with_url(made, "site-a", "https://a.example/3", 3.0)
    with pytest.raises(WebhookConflict):
        registry.save(stale, previous_revision=made.revision)
    assert registry.url_of("site-a") == "https://a.example/2"
