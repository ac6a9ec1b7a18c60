"""The engine's state in DynamoDB (the engine table), on the low-level client: every step is one
conditional or idempotent write (see engine.state for the conditions).

Items:
  ``RUN#<runId> / RUN``          the run: job, START_JOB's data, its plan, the outputs ended, the
                                 first failure, whether its end was reported
  ``RUN#<runId> / OUT#<k>``      output k: each part done (``part:<name>``), their number, its outcome
  ``JOB#<jobId> / CANCEL``       a cancel requested for the job
Every item expires (``expiresAt``, DynamoDB's TTL) a week after it was written.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from engine.state import RUN_TTL_SECONDS, OutputEnd, PartsDone, RunEnded, RunRecord
from functions.shared.aws import error_code

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"
_CONDITION_FAILED = "ConditionalCheckFailedException"
_PART = "part:"  # an output item's attribute per part done: part:<name> -> what its task recorded


class EngineStateUnavailable(RuntimeError):
    """The engine table could not be read or written (retryable: the task is delivered again)."""


def _run_key(run_id: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": f"RUN#{run_id}"}, SORT_KEY: {"S": "RUN"}}


def _output_key(run_id: str, output: int) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": f"RUN#{run_id}"}, SORT_KEY: {"S": f"OUT#{output}"}}


def _cancel_key(job_id: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": f"JOB#{job_id}"}, SORT_KEY: {"S": "CANCEL"}}


class DynamoEngineState:
    def __init__(self, client: Any, table: str, clock: Any) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def _expiry(self) -> dict[str, str]:
        return {"N": str(int(self._clock()) + RUN_TTL_SECONDS)}

    def _call(self, operation: str, **parameters: Any) -> Any:
        try:
            return getattr(self._client, operation)(TableName=self._table, **parameters)
        except ClientError as exc:
            if error_code(exc) == _CONDITION_FAILED:
                raise
            raise EngineStateUnavailable(f"{operation}: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise EngineStateUnavailable(f"{operation}: {exc}") from exc

    def _conditional(self, operation: str, **parameters: Any) -> Any | None:
        """The answer, or None if the condition failed."""
        try:
            return self._call(operation, **parameters)
        except ClientError:
            return None

    # ------------------------------------------------------------------ runs

    def start_run(self, run: RunRecord) -> bool:
        item = {
            **_run_key(run.run_id),
            "jobId": {"S": run.job_id},
            "workflowId": {"S": run.workflow_id},
            "data": {"S": json.dumps(run.data)},
            "startedAt": {"N": repr(run.started_at)},
            TTL_ATTRIBUTE: self._expiry(),
        }
        answer = self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        return answer is not None

    def get_run(self, run_id: str) -> RunRecord | None:
        item = self._call("get_item", Key=_run_key(run_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        return RunRecord(
            run_id=run_id,
            job_id=item["jobId"]["S"],
            workflow_id=item["workflowId"]["S"],
            data=json.loads(item["data"]["S"]),
            started_at=float(item["startedAt"]["N"]),
            plan=json.loads(item["plan"]["S"]) if "plan" in item else None,
            dispatched="dispatched" in item,
        )

    def set_plan(self, run_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        answer = self._conditional(
            "update_item",
            Key=_run_key(run_id),
            UpdateExpression="SET #plan = :plan",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#plan)",
            ExpressionAttributeNames={"#plan": "plan"},
            ExpressionAttributeValues={":plan": {"S": json.dumps(plan)}},
        )
        if answer is not None:
            return plan
        held = self.get_run(run_id)
        if held is None or held.plan is None:
            raise EngineStateUnavailable(f"run {run_id} has no plan and none could be set")
        return held.plan

    def mark_dispatched(self, run_id: str) -> None:
        self._call(
            "update_item",
            Key=_run_key(run_id),
            UpdateExpression="SET dispatched = :yes",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    # ------------------------------------------------------------------ outputs

    def add_part(self, run_id: str, output: int, name: str, info: dict[str, Any], total: int) -> PartsDone:
        answer = self._call(
            "update_item",
            Key=_output_key(run_id, output),
            UpdateExpression="SET #part = if_not_exists(#part, :info), #total = :total, expiresAt = :expires",
            ExpressionAttributeNames={"#part": f"{_PART}{name}", "#total": "total"},
            ExpressionAttributeValues={
                ":info": {"S": json.dumps(info, sort_keys=True)},
                ":total": {"N": str(total)},
                ":expires": self._expiry(),
            },
            ReturnValues="ALL_OLD",  # what was there before this report: was it new, and the last?
        )
        before = _part_infos(answer.get("Attributes", {}))
        new = name not in before
        parts = {**before, name: before.get(name, info)}
        return PartsDone(parts, total, completed_now=new and len(parts) == total, repeated=not new)

    def parts(self, run_id: str, output: int) -> PartsDone:
        item = self._call("get_item", Key=_output_key(run_id, output), ConsistentRead=True).get("Item") or {}
        return PartsDone(_part_infos(item), int(item.get("total", {}).get("N", "0")))

    def end_output(self, run_id: str, output: int, outcome: dict[str, Any], outputs: int) -> OutputEnd:
        ended = self._conditional(
            "update_item",
            Key=_output_key(run_id, output),
            UpdateExpression="SET ended = :outcome, expiresAt = :expires",
            ConditionExpression="attribute_not_exists(ended)",
            ExpressionAttributeValues={":outcome": {"S": json.dumps(outcome)}, ":expires": self._expiry()},
        )
        if ended is None:  # ended before (a redelivery, a task that lost a race): its outcome holds
            outcome = self.ended_outcome(run_id, output) or outcome
        update = "ADD endedOutputs :output"
        values: dict[str, Any] = {":output": {"NS": [str(output)]}}
        if outcome.get("failure") is not None:
            update += " SET failure = if_not_exists(failure, :failure)"
            values[":failure"] = {"S": json.dumps(outcome["failure"])}
        run = self._call(
            "update_item",
            Key=_run_key(run_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        done = len(run.get("endedOutputs", {}).get("NS", [])) >= outputs and "reported" not in run
        failure = json.loads(run["failure"]["S"]) if "failure" in run else None
        return OutputEnd(outcome, RunEnded(failure) if done else None)

    def ended_outcome(self, run_id: str, output: int) -> dict[str, Any] | None:
        item = self._call("get_item", Key=_output_key(run_id, output), ConsistentRead=True).get("Item")
        return json.loads(item["ended"]["S"]) if item and "ended" in item else None

    def mark_reported(self, run_id: str) -> None:
        self._call(
            "update_item",
            Key=_run_key(run_id),
            UpdateExpression="SET reported = :yes",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    # ------------------------------------------------------------------ cancels

    def request_cancel(self, job_id: str, at: float) -> None:
        self._call(
            "update_item",
            Key=_cancel_key(job_id),
            UpdateExpression="SET requestedAt = if_not_exists(requestedAt, :at), expiresAt = :expires",
            ExpressionAttributeValues={":at": {"N": repr(at)}, ":expires": self._expiry()},
        )

    def cancel_requested(self, job_id: str) -> bool:
        return "Item" in self._call("get_item", Key=_cancel_key(job_id), ConsistentRead=True)


def _part_infos(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name.removeprefix(_PART): json.loads(value["S"])
        for name, value in item.items()
        if name.startswith(_PART)
    }
