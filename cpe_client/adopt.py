"""Adopting jobs already in flight when the tracker takes over the output queue from the PHP
``ClientPoller`` (docs/migrating.md).

The poller consumed those jobs' ``WORKFLOW_SCHEDULED``, the only message naming both the job and
its run: without it the tracker parks the run's later messages (14 days) and never learns whose
they are. Adopting a job sends the tracker that message again, built from what your app recorded
when its poller handled it (the job id, the run id, the workflow id, the job's input), plus any
message bodies your app kept (an ``ACTIVITY_COMPLETED`` the poller handled, say: without it the
tracker cannot count that output done). The tracker then links the run and applies everything
parked and everything to come. Adopting twice is harmless: the tracker de-duplicates messages
and keeps a run's earliest ``WORKFLOW_SCHEDULED``.

One job per line (JSON Lines)::

    {"jobId": "...", "runId": "...", "workflowId": "...", "input": {...the START_JOB data...},
     "workflowType": {"name": "Transcode", "version": "1.0"}, "scheduledAt": 1437447258.98,
     "messages": [{...an output message body...}]}

``jobId`` and ``runId`` are required; ``input`` is strongly advised (the tracker counts the outputs
to expect from it, and maps its client name to an owner); ``scheduledAt`` (epoch seconds) defaults
to now.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpe_client.client import ClientError

SQS_BATCH = 10
MAX_BATCH_BYTES = 256 * 1024  # a message's and a batch's limit alike
LATEST_SECONDS = 10_000_000_000  # year 2286: a larger scheduledAt is milliseconds


@dataclass(frozen=True)
class InFlightJob:
    job_id: str
    run_id: str
    workflow_id: str | None = None
    input: dict[str, Any] | None = None
    scheduled_at: float | None = None
    workflow_type: dict[str, str] | None = None
    messages: Sequence[dict[str, Any]] = field(default_factory=tuple)

    def scheduled(self, now: float) -> dict[str, Any]:
        """The WORKFLOW_SCHEDULED body, as CPE's InputPoller sends it (docs/protocol.md)."""
        body: dict[str, Any] = {
            "time": self.scheduled_at if self.scheduled_at is not None else now,
            "type": "WORKFLOW_SCHEDULED",
            "jobId": self.job_id,
            "runId": self.run_id,
            "input": self.input or {},
        }
        if self.workflow_id:
            body["workflowId"] = self.workflow_id
        if self.workflow_type:
            body["workflowType"] = self.workflow_type
        return body

    def bodies(self, now: float) -> list[dict[str, Any]]:
        return [self.scheduled(now), *self.messages]


def read_in_flight(lines: Iterable[str | bytes]) -> list[InFlightJob]:
    """The jobs of a JSON Lines file; a ``ClientError`` names the first bad line and why."""
    jobs = []
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8") if isinstance(line, bytes) else line
            if text.strip():
                jobs.append(
                    _in_flight(json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique))
                )
        except (ValueError, TypeError, ArithmeticError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise ClientError(f"line {number}: {reason}") from None
    return jobs


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"a field given twice: {sorted({n for n in names if names.count(n) > 1})}")
    return dict(pairs)


def _in_flight(entry: Any) -> InFlightJob:
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    known = {"jobId", "runId", "workflowId", "workflowType", "input", "scheduledAt", "messages"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValueError(f"unknown fields {unknown}")
    for name in ("jobId", "runId"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise ValueError(f"{name} must be a non-empty string")
    if entry.get("workflowId") is not None and not isinstance(entry["workflowId"], str):
        raise ValueError("workflowId must be a string")
    workflow_type = entry.get("workflowType")
    if workflow_type is not None and (
        not isinstance(workflow_type, dict)
        or set(workflow_type) - {"name", "version"}
        or not all(isinstance(v, str) for v in workflow_type.values())
    ):
        raise ValueError('workflowType must be {"name": ..., "version": ...}')
    if entry.get("input") is not None and not isinstance(entry["input"], dict):
        raise ValueError("input must be the job's JSON object")
    scheduled_at = entry.get("scheduledAt")
    if scheduled_at is not None and (
        isinstance(scheduled_at, bool)
        or not isinstance(scheduled_at, int | float)
        or not 0 <= scheduled_at < LATEST_SECONDS
    ):
        raise ValueError("scheduledAt must be epoch seconds (not milliseconds)")
    messages = entry.get("messages") or []
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "type" in m for m in messages):
        raise ValueError("messages must be a list of output message bodies (each with its type)")
    for message in messages:
        if message["type"] == "WORKFLOW_SCHEDULED":
            raise ValueError("messages: no WORKFLOW_SCHEDULED (adopt makes it from jobId and runId)")
        workflow = (
            (message.get("data") or {}).get("workflow") if isinstance(message.get("data"), dict) else None
        )
        run_id = workflow.get("runId") if isinstance(workflow, dict) else None
        if run_id is not None and run_id != entry["runId"]:
            raise ValueError(f"messages: a message of run {str(run_id)[:80]!r}, not of this job's run")
    return InFlightJob(
        job_id=entry["jobId"],
        run_id=entry["runId"],
        workflow_id=entry.get("workflowId"),
        input=entry.get("input"),
        scheduled_at=float(scheduled_at) if scheduled_at is not None else None,
        workflow_type=workflow_type,
        messages=tuple(messages),
    )


def adopt(
    sqs: Any,
    output_queue_url: str,
    jobs: Sequence[InFlightJob],
    *,
    now: float | None = None,
    tracked: Callable[[str], str | None] | None = None,
) -> int:
    """Send each job's messages to the tracker's output queue; returns how many were sent.

    ``tracked(job_id)`` names the run the tracker follows for a job it has ("" before any run), or
    None for a job it has not: a job it has on another run (or on none: submitted through the API)
    is refused, and then nothing is sent, since an adopted run would report on that job; one it has
    on this run was adopted already, and is skipped. Raises ``ClientError`` naming the jobs whose
    messages SQS refused (the others were sent: adopt the file again)."""
    if tracked is not None:
        runs = {job.job_id: tracked(job.job_id) for job in jobs}
        clash = sorted(job.job_id for job in jobs if runs[job.job_id] not in (None, job.run_id))
        if clash:
            raise ClientError(
                f"jobs the tracker has on another run or on none, not adopted: {clash[:20]}; nothing was sent"
            )
        jobs = [job for job in jobs if runs[job.job_id] is None]
    at = time.time() if now is None else now
    bodies = [(job.job_id, json.dumps(body, allow_nan=False)) for job in jobs for body in job.bodies(at)]
    too_big = sorted({job_id for job_id, body in bodies if len(body.encode()) > MAX_BATCH_BYTES})
    if too_big:
        raise ClientError(f"messages over SQS's 256 KB for jobs {too_big}: nothing was sent")
    refused: set[str] = set()
    for chunk in _batches(bodies):
        answer = sqs.send_message_batch(
            QueueUrl=output_queue_url,
            Entries=[{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk)],
        )
        refused |= {chunk[int(failed["Id"])][0] for failed in answer.get("Failed", [])}
    if refused:
        raise ClientError(f"SQS refused messages of jobs {sorted(refused)}: adopt them again")
    return len(bodies)


def _batches(bodies: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    """Up to 10 messages and 256 KB in all a batch, as SendMessageBatch takes them."""
    chunk: list[tuple[str, str]] = []
    size = 0
    for entry in bodies:
        length = len(entry[1].encode())
        if chunk and (len(chunk) == SQS_BATCH or size + length > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += length
    if chunk:
        yield chunk
