"""SQS queues, on botocore directly (boto3 would add its import time for nothing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.messaging.base import QueueUnavailable
from functions.shared.aws import describe, error_code, is_throttling

BATCH_ENTRIES = 10  # SendMessageBatch's limit
BATCH_ATTEMPTS = 3  # SQS reports failed entries without raising: retry them this often


class SqsQueue:
    """A queue; ``client`` makes its SQS client when the queue is first used (a request that never
    sends, like a GET of the API, never pays for building one)."""

    def __init__(self, client: Callable[[], Any], queue_url: str) -> None:
        self._make_client = client
        self.url = queue_url

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def send(self, body: str) -> str:
        response = self._call("send_message", QueueUrl=self.url, MessageBody=body)
        return str(response["MessageId"])

    def send_batch(self, bodies: Sequence[str]) -> None:
        for start in range(0, len(bodies), BATCH_ENTRIES):
            pending = {str(n): body for n, body in enumerate(bodies[start : start + BATCH_ENTRIES])}
            failed: list[dict[str, Any]] = []
            for _ in range(BATCH_ATTEMPTS):
                entries = [{"Id": key, "MessageBody": body} for key, body in pending.items()]
                failed = self._call("send_message_batch", QueueUrl=self.url, Entries=entries).get(
                    "Failed", []
                )
                pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
                # A sender's fault (a body SQS refuses) fails the same way again: no retry.
                if not pending or any(entry.get("SenderFault") for entry in failed):
                    break
            if failed:
                codes = sorted({str(entry.get("Code", "")) for entry in failed})
                raise QueueUnavailable(
                    f"SQS did not take {len(failed)} of {len(bodies)} messages: {', '.join(codes)}",
                    throttled=all(is_throttling(code) for code in codes),
                )

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        self._call(
            "change_message_visibility",
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )

    def _call(self, operation: str, **parameters: Any) -> Any:
        try:
            return getattr(self._client, operation)(**parameters)
        except (ClientError, BotoCoreError) as exc:
            raise QueueUnavailable(f"SQS {describe(exc)}", throttled=is_throttling(error_code(exc))) from exc
