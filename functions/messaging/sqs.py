"""The SQS command queue, on botocore directly (boto3 would add its import time for nothing)."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.messaging.base import QueueUnavailable

_THROTTLING = frozenset(
    {"ThrottlingException", "RequestThrottled", "AWS.SimpleQueueService.RequestThrottled"}
)


class SqsCommandQueue:
    def __init__(self, queue_url: str, *, region: str | None = None, endpoint: str | None = None) -> None:
        self._queue_url = queue_url
        session = botocore.session.get_session()
        self._client: Any = session.create_client(
            "sqs",
            region_name=region,
            endpoint_url=endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5),
        )

    def send(self, body: str) -> str:
        try:
            response = self._client.send_message(QueueUrl=self._queue_url, MessageBody=body)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise QueueUnavailable(f"SQS {code}", throttled=code in _THROTTLING) from exc
        except BotoCoreError as exc:
            raise QueueUnavailable(f"SQS unreachable: {type(exc).__name__}") from exc
        return str(response["MessageId"])
