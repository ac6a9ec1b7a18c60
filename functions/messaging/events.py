"""An EventBridge bus, on botocore directly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.messaging.base import EventBusUnavailable
from functions.shared.aws import describe, error_code, is_throttling


class EventBridgeBus:
    def __init__(self, client: Any, bus: str) -> None:
        self._client = client
        self._bus = bus  # its name or ARN (PutEvents takes either)

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": self._bus,
            "Resources": [],
        }
        try:
            answer = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            raise EventBusUnavailable(
                f"EventBridge {describe(exc)}", throttled=is_throttling(error_code(exc))
            ) from exc
        if answer.get("FailedEntryCount"):
            (refused,) = answer["Entries"]
            code = str(refused.get("ErrorCode", ""))
            raise EventBusUnavailable(
                f"EventBridge refused the event: {code} {refused.get('ErrorMessage', '')}".strip(),
                throttled=is_throttling(code),
            )
