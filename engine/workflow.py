"""One run of a job, as CPE's Decider plans it for CT: ValidateAsset, then one TranscodeAsset per
output (``output_asset`` or each of ``output_assets``), reported step by step.

Outputs are independent: one failing does not stop the others, and the workflow fails (with the
first failure's reason, which CPE's Decider never gave) only once all have run. A cancel stops the
activity at hand, which reports ``ACTIVITY_CANCELED``, and the workflow fails with ``CANCELED``."""

from __future__ import annotations

import base64
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from engine.activities import EngineOptions, TranscodeAsset, validate_asset
from engine.errors import ActivityError, Canceled, Reason
from engine.reporting import ActivityReporter, RunReporter
from engine.storage import Storage

logger = logging.getLogger(__name__)


def new_run_id() -> str:
    """Shaped like SWF's run ids (44 characters of base64)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_workflow_id() -> str:
    """Shaped like the InputPoller's (PHP ``uniqid('', true)``)."""
    return f"{int(time.time() * 1_000_000):x}.{secrets.randbelow(10**8):08d}"


@dataclass(frozen=True)
class Outcome:
    run_id: str
    workflow_id: str
    error: ActivityError | None

    @property
    def completed(self) -> bool:
        return self.error is None


def _transcode_steps(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    outputs = data.get("output_assets")
    if not isinstance(outputs, list):
        outputs = [data["output_asset"]] if isinstance(data.get("output_asset"), dict) else []
    if len(outputs) == 1:
        return [("TranscodeAssetStep", outputs[0])]
    return [(f"TranscodeAssetStep{index}", output) for index, output in enumerate(outputs, start=1)]


def _step(reporter: ActivityReporter, work: Any) -> tuple[Any, ActivityError | None]:
    """Run one activity; its failure becomes ACTIVITY_FAILED / ACTIVITY_CANCELED, never an escape."""
    try:
        reporter.check_cancel()
        result = work()
    except ActivityError as error:
        reporter.failed(error)
        return None, error
    except Exception as exc:  # a defect: reported like CT's generic failure, and logged in full
        logger.exception("activity %s failed unexpectedly", reporter.activity_id)
        defect = ActivityError(Reason.ACTIVITY_FAILED, f"{type(exc).__name__}: {exc}")
        reporter.failed(defect)
        return None, defect
    reporter.completed(result)
    return result, None


def run_job(data: dict[str, Any], reporter: RunReporter, storage: Storage, options: EngineOptions) -> Outcome:
    """Run the START_JOB ``data`` (with ``workflow`` and ``client``), reporting through ``reporter``."""
    workflow = data.get("workflow") or {}
    reporter.scheduled(data, (str(workflow.get("name", "Transcode")), str(workflow.get("version", "1.0"))))
    client = data.get("client")
    base = {"input_asset": data.get("input_asset"), "client": client}

    validate = reporter.activity("ValidateAssetStep", "ValidateAsset")
    metadata, error = _step(validate, lambda: validate_asset(base, validate, storage))
    if error is None:
        for step_id, output in _transcode_steps(data):
            if isinstance(error, Canceled):
                break
            step = reporter.activity(step_id, "TranscodeAsset")
            task = {**base, "input_asset_metadata": metadata, "output_asset": output}
            _, failure = _step(
                step, lambda task=task, step=step: TranscodeAsset(task, step, storage, options).run()
            )
            error = error or failure
            if isinstance(failure, Canceled):
                error = failure
    reporter.ended(error)
    return Outcome(reporter.run_id, reporter.workflow_id, error)
