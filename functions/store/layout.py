"""The jobs table's item layout: partition and sort keys of each item kind. Plain values and pure
functions (no runtime objects), so that infra (the stream filter) and the store share them.

Items:
  ``JOB#<jobId>  / JOB``                      the job (facts and view), one per job
  ``JOB#<jobId>  / BLOB#<name>#<part>``      a big reported value, zlib-compressed, in parts
  ``RUN#<runId>  / LINK``                     runId -> jobId (WORKFLOW_SCHEDULED writes it), parking version
  ``WF#<workflowId> / LINK``                  workflowId -> jobId, runId, parking version
  ``RUN#<runId> or WF#<workflowId> / PARKED#<digest>``  a message waiting for its run
  ``IDEMPOTENCY#<digest> / IDEMPOTENCY``      an Idempotency-Key of POST /jobs
"""

from __future__ import annotations

from typing import Any

from functions.jobs.messages import RunKey

JOB_SK = "JOB"
# The version of the job item's public attributes (docs/job-stream.schema.json): raised only by a
# change that breaks a stream consumer (an attribute removed, renamed or retyped), not by an addition.
STREAM_SCHEMA_VERSION = 1
SCHEMA_VERSION_ATTRIBUTE = "schemaVersion"
# Attributes of a job item that its stream images are read by (functions.store.stream).
RECORD_ATTRIBUTE = "record"  # the whole job, as JSON
VERSION_ATTRIBUTE = "version"  # incremented by every write
UPDATED_AT_ATTRIBUTE = "updatedAt"
LINK_SK = "LINK"
IDEMPOTENCY_SK = "IDEMPOTENCY"
PARKED_PREFIX = "PARKED#"
BLOB_PREFIX = "BLOB#"
ALL_JOBS = "JOBS"
# A Lambda event filter for the table's stream: only the job items' writes reach the function.
JOB_ITEM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"Keys": {"sk": {"S": [JOB_SK]}}},
}


JOB_PREFIX = "JOB#"


def job_pk(job_id: str) -> str:
    return f"{JOB_PREFIX}{job_id}"


def job_id_of(pk: str) -> str:
    return pk.removeprefix(JOB_PREFIX)


def run_pk(key: RunKey) -> str:
    return f"RUN#{key.value}" if key.kind == "run" else f"WF#{key.value}"


def status_pk(status: str) -> str:
    return f"STATUS#{status}"


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


def idempotency_pk(key_digest: str) -> str:
    return f"IDEMPOTENCY#{key_digest}"


def created_key(created_at: float, job_id: str) -> str:
    """Sorts jobs by creation time (then id): epoch milliseconds, zero-padded."""
    return f"{round(created_at * 1000):015d}#{job_id}"
