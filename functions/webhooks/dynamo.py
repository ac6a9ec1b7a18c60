"""The owners' webhooks in their own DynamoDB table (key ``owner``): apart from the jobs, so that
what reads jobs never reads signing secrets, and the notifier reads only URLs (its role may ask
for the ``owner`` and ``url`` attributes alone)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.jobs.errors import StorageUnavailable
from functions.shared.aws import error_code
from functions.webhooks.registry import OwnerWebhook, SigningSecret, WebhookConflict

PARTITION_KEY = "owner"  # the table's only key (infra.notifier and local.resources make it so)
# What the notifier may read (infra grants GetItem on these attributes only).
URL_ATTRIBUTES = (PARTITION_KEY, "url")


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
        item = self._call(
            "get_item",
            Key=_key(owner),
            ProjectionExpression="#o, #u",
            ExpressionAttributeNames={"#o": "owner", "#u": "url"},
        ).get("Item")
        return str(item["url"]["S"]) if item and "url" in item else None

    def save(self, webhook: OwnerWebhook, *, previous_version: int | None) -> None:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#o)", "ExpressionAttributeNames": {"#o": "owner"}}
            if previous_version is None
            else {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(previous_version)}},
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
            if error_code(exc) == "ConditionalCheckFailedException":
                raise WebhookConflict(params.get("Item", {}).get("owner", {}).get("S", "")) from None
            raise StorageUnavailable(f"webhooks table: {error_code(exc) or exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"webhooks table: {exc}") from exc


def _key(owner: str) -> dict[str, Any]:
    return {"owner": {"S": owner}}


def _item(webhook: OwnerWebhook) -> dict[str, Any]:
    return {
        "owner": {"S": webhook.owner},
        "url": {"S": webhook.url},
        "updatedAt": {"N": repr(webhook.updated_at)},
        "version": {"N": str(webhook.version)},
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
        owner=item["owner"]["S"],
        url=item["url"]["S"],
        secrets=tuple(
            SigningSecret(
                value=s["M"]["value"]["S"],
                created_at=float(s["M"]["createdAt"]["N"]),
                expires_at=float(s["M"]["expiresAt"]["N"]) if "expiresAt" in s["M"] else None,
            )
            for s in item["secrets"]["L"]
        ),
        updated_at=float(item["updatedAt"]["N"]),
        version=int(item["version"]["N"]),
    )
