"""CPE messages for one run, built with the tracker's own builders (functions.jobs.protocol), so
the engine's bodies have exactly the shapes the InputPoller, the activities and the Decider send
(docs/protocol.md), minus CT's defects: ``WORKFLOW_FAILED`` says why, a canceled activity says
``ACTIVITY_CANCELED``, and ``ACTIVITY_STARTED`` does not echo the whole ffprobe document."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ActivityError, Canceled
from functions.jobs.messages import MessageType
from functions.jobs.protocol import activity_message, workflow_ended, workflow_scheduled

Send = Callable[[dict[str, Any]], None]


def new_run_id() -> str:
    """Shaped like SWF's run ids (44 characters of base64)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_workflow_id() -> str:
    """Shaped like the InputPoller's (PHP ``uniqid('', true)``)."""
    return f"{int(time.time() * 1_000_000):x}.{secrets.randbelow(10**8):08d}"


def transcode_steps(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(activityId, output_asset) of each TranscodeAsset of a job, as CPE's Decider names them:
    ``TranscodeAssetStep`` for one output, ``TranscodeAssetStep1..N`` for several."""
    outputs = data.get("output_assets")
    if not isinstance(outputs, list):
        outputs = [data["output_asset"]] if isinstance(data.get("output_asset"), dict) else []
    if len(outputs) == 1:
        return [("TranscodeAssetStep", outputs[0])]
    return [(f"TranscodeAssetStep{index}", output) for index, output in enumerate(outputs, start=1)]


ACTIVITY_VERSION = "v2"  # CT's registered versions of ValidateAsset and TranscodeAsset


@dataclass
class RunReporter:
    job_id: str
    run_id: str
    workflow_id: str
    send: Send
    clock: Callable[[], float] = time.time
    progress_interval: float = 10.0  # CT: about every 10 s
    transfer_interval: float = 10.0
    cancel: threading.Event = field(default_factory=threading.Event)
    # Called between frames: raises Canceled (the job was canceled elsewhere) or ActivityError
    # (out of time).
    watch: Callable[[], None] | None = None

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Canceled()
        if self.watch is not None:
            self.watch()

    def scheduled(self, job_input: dict[str, Any], workflow_type: tuple[str, str]) -> None:
        self.send(
            workflow_scheduled(
                job_id=self.job_id,
                run_id=self.run_id,
                workflow_id=self.workflow_id,
                input=job_input,
                time=self.clock(),
                workflow_type=workflow_type,
            )
        )

    def ended(self, error: ActivityError | None) -> None:
        """The run's end: completed, failed, or canceled (as SWF reports a canceled workflow)."""
        kind = (
            MessageType.WORKFLOW_COMPLETED
            if error is None
            else MessageType.WORKFLOW_CANCELED
            if isinstance(error, Canceled)
            else MessageType.WORKFLOW_FAILED
        )
        body = workflow_ended(kind, run_id=self.run_id, workflow_id=self.workflow_id, time=self.clock())
        if error is not None:
            body["data"].update(reason=str(error.reason), details=error.details)
        self.send(body)

    def activity(self, activity_id: str, activity_type: str) -> ActivityReporter:
        return ActivityReporter(self, activity_id, activity_type)


class ActivityReporter:
    """What one activity reports; progress and transfer messages are throttled to their interval."""

    def __init__(self, run: RunReporter, activity_id: str, activity_type: str) -> None:
        self.run = run
        self.activity_id = activity_id
        self.activity_type = activity_type
        self._last: dict[MessageType, float] = {}

    def _send(self, kind: MessageType, **kwargs: Any) -> None:
        self.run.send(
            activity_message(
                kind,
                run_id=self.run.run_id,
                workflow_id=self.run.workflow_id,
                activity_id=self.activity_id,
                activity_type=self.activity_type,
                activity_version=ACTIVITY_VERSION,
                time=self.run.clock(),
                **kwargs,
            )
        )

    def _due(self, kind: MessageType, interval: float) -> bool:
        now = self.run.clock()
        last = self._last.get(kind)
        if last is not None and now - last < interval:
            return False
        self._last[kind] = now
        return True

    def check_cancel(self) -> None:
        self.run.check_cancel()

    def started(self, task_input: dict[str, Any]) -> None:
        self._send(MessageType.ACTIVITY_STARTED, input=task_input)

    def preparing(self) -> None:
        """A transfer in: sent at its start and then at most every ``transfer_interval``."""
        if self._due(MessageType.ACTIVITY_PREPARING, self.run.transfer_interval):
            self._send(MessageType.ACTIVITY_PREPARING)

    def finishing(self) -> None:
        if self._due(MessageType.ACTIVITY_FINISHING, self.run.transfer_interval):
            self._send(MessageType.ACTIVITY_FINISHING)

    def progress(self, done: float, duration: float) -> None:
        if duration <= 0 or not self._due(MessageType.ACTIVITY_PROGRESS, self.run.progress_interval):
            return
        done = min(max(done, 0.0), duration)
        percent = int(done * 100 / duration)
        self._send(
            MessageType.ACTIVITY_PROGRESS,
            result={"duration": round(duration, 3), "done": round(done, 3), "progress": percent},
        )

    def completed(self, result: dict[str, Any]) -> None:
        self._send(MessageType.ACTIVITY_COMPLETED, result=result)

    def failed(self, error: ActivityError) -> None:
        kind = MessageType.ACTIVITY_CANCELED if isinstance(error, Canceled) else MessageType.ACTIVITY_FAILED
        self._send(kind, result=error.as_failure())
