"""The owners' webhooks in their own DynamoDB table (key ``owner``): apart from the jobs, so that
what reads jobs never reads signing secrets, and the notifier reads only URLs (its role may ask
for the ``owner`` and ``url`` attributes alone)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.jobs.errors import StorageUnavailable
from functions.shared import aws
from functions.shared.aws import error_code, is_throttling
from functions.webhooks.registry import OwnerWebhook, SigningSecret, WebhookConflict

PARTITION_KEY = "owner"  # the table's only key (infra.notifier and local.resources make it so)
URL_ATTRIBUTE = "url"
# What the notifier may read (infra grants GetItem on these attributes only).
URL_ATTRIBUTES = (PARTITION_KEY, URL_ATTRIBUTE)


def webhook_registry(table: str, *, region: str | None, endpoint: str | None) -> DynamoWebhookRegistry:
    """The registry on ``table``, its DynamoDB client built at first use."""
    return DynamoWebhookRegistry(lambda: aws.client("dynamodb", region=region, endpoint=endpoint), table)


class DynamoWebhookRegistry:
    def __init__(self, client: Callable[[], Any], table: str) -> None:
        self._new_client = client
        self._table = table

    @cached_property
    def _client(self) -> Any:
        return self._new_client()

    def get(self, owner: str) -> OwnerWebhook | None:
        item = self._call("get_item", Key=_key(owner), ConsistentRead=True).get("Item")
        return _webhook(item) if item else None

    def url_of(self, owner: str) -> str | None:
        names = {f"#a{i}": name for i, name in enumerate(URL_ATTRIBUTES)}
        item = self._call(
            "get_item",
            Key=_key(owner),
            ConsistentRead=True,  # a URL set a moment ago is used
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ).get("Item")
        return str(item[URL_ATTRIBUTE]["S"]) if item and URL_ATTRIBUTE in item else None

    def save(self, webhook: OwnerWebhook, *, previous_revision: str | None) -> None:
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "attribute_not_exists(#o)",
                "ExpressionAttributeNames": {"#o": PARTITION_KEY},
            }
            if previous_revision is None
            else {
                "ConditionExpression": "#r = :r",
                "ExpressionAttributeNames": {"#r": "revision"},
                "ExpressionAttributeValues": {":r": {"S": previous_revision}},
            }
        )
        self._call("put_item", Item=_item(webhook), **condition)

    def delete(self, owner: str) -> bool:
        answer = self._call("delete_item", Key=_key(owner), ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self._client, operation)(TableName=self._table, **params))
        except ClientError as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                raise WebhookConflict(operation) from None
            raise StorageUnavailable(f"webhooks table: {code or exc}", throttled=is_throttling(code)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"webhooks table: {exc}") from exc


def _key(owner: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": owner}}


def _item(webhook: OwnerWebhook) -> dict[str, Any]:
    return {
        PARTITION_KEY: {"S": webhook.owner},
        URL_ATTRIBUTE: {"S": webhook.url},
        "updatedAt": {"N": repr(webhook.updated_at)},
        "revision": {"S": webhook.revision},
        "secrets": {
            "L": [
                {
                    "M": {
                        "value": {"S": s.value},
                        "createdAt": {"N": repr(s.created_at)},
                        **({"expiresAt": {"N": repr(s.expires_at)}} if s.expires_at is not None else {}),
                    }
                }
                for s in webhook.secrets
            ]
        },
    }


def _webhook(item: dict[str, Any]) -> OwnerWebhook:
    return OwnerWebhook(
        owner=item[PARTITION_KEY]["S"],
        url=item[URL_ATTRIBUTE]["S"],
        secrets=tuple(
            SigningSecret(
                value=s["M"]["value"]["S"],
                created_at=float(s["M"]["createdAt"]["N"]),
                expires_at=float(s["M"]["expiresAt"]["N"]) if "expiresAt" in s["M"] else None,
            )
            for s in item["secrets"]["L"]
        ),
        updated_at=float(item["updatedAt"]["N"]),
        revision=item["revision"]["S"],
    )
