"""When a run counts as completed (settled rule 1), as configuration.

CPE's Decider writes WORKFLOW_COMPLETED/FAILED to its own queue, so they may never reach ours.
By default a run is therefore also completed when every expected *final* activity reported
ACTIVITY_COMPLETED: ``TranscodeAsset``, one per output of the job. A stack whose Decider messages
do reach the output queue can require WORKFLOW_COMPLETED instead.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, PositiveInt

from functions.shared.models import Model


class CompletionMode(StrEnum):
    WORKFLOW_OR_FINAL_ACTIVITIES = "workflow-or-final-activities"
    WORKFLOW_MESSAGE_ONLY = "workflow-message-only"


class CompletionRule(Model):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: CompletionMode = CompletionMode.WORKFLOW_OR_FINAL_ACTIVITIES
    final_activity_types: frozenset[str] = Field(default=frozenset({"TranscodeAsset"}), min_length=1)
    # None: one final activity per output of the job (``output_asset`` or ``output_assets``).
    final_activity_count: PositiveInt | None = None
    validate_activity_type: str = "ValidateAsset"

    def expected_finals(self, output_count: int) -> int:
        return self.final_activity_count or max(1, output_count)

    @property
    def completes_on_final_activities(self) -> bool:
        return self.mode is CompletionMode.WORKFLOW_OR_FINAL_ACTIVITIES
