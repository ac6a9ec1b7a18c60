"""What changed in a job, from the old and new images of its item: the "Job State Change" event.

Pure: no AWS. An event is made only when something a user cares about changed (status, phase,
an activity's status, progress crossing a step, the outputs, the error); its ``id`` is stable for
a given write (redelivered stream records give the same id) and ``sequence`` is the item's
version, which every write of the job increments, so consumers can order and de-duplicate."""

from __future__ import annotations

import hashlib
from typing import Any

from functions.jobs.model import Job, iso
from functions.store.base import LoadedJob

SOURCE = "cpe.serverless"
DETAIL_TYPE = "Job State Change"
SCHEMA_VERSION = "1"


def _activities(job: Job) -> dict[str, str]:
    run = job.runs.get(job.runId or "")
    if run is None:
        return {}
    return {activity_id: activity.status.value for activity_id, activity in run.activities.items()}


def changes(old: Job | None, new: Job, *, progress_step: int) -> list[str]:
    """The names of what changed that a user cares about (empty: no event)."""
    if old is None:
        return ["created"]
    found = []
    if old.status != new.status:
        found.append("status")
    if old.phase != new.phase:
        found.append("phase")
    if _activities(old) != _activities(new):
        found.append("activities")
    step = max(1, progress_step)
    if new.progress // step != old.progress // step or (new.progress == 100 and old.progress != 100):
        found.append("progress")
    if [o.get("key") or o.get("file") for o in old.outputs] != [
        o.get("key") or o.get("file") for o in new.outputs
    ]:
        found.append("outputs")
    if old.error != new.error:
        found.append("error")
    return found


def state_change_event(old: LoadedJob | None, new: LoadedJob, *, progress_step: int) -> dict[str, Any] | None:
    """The event for this write, or None when nothing a user cares about changed."""
    changed = changes(old.job if old else None, new.job, progress_step=progress_step)
    if not changed:
        return None
    job = new.job
    event_id = hashlib.sha256(f"{job.jobId}:{new.version}".encode()).hexdigest()[:32]
    previous = old.job if old else None
    return {
        "id": event_id,
        "schemaVersion": SCHEMA_VERSION,
        "jobId": job.jobId,
        "sequence": new.version,
        "changes": changed,
        "status": job.status.value,
        "previousStatus": previous.status.value if previous else None,
        "phase": job.phase.value,
        "progress": job.progress,
        "activities": _activities(job),
        "outputs": [{k: v for k, v in o.items() if k != "probe"} for o in job.outputs],
        "error": job.error,
        "clientName": job.clientName,
        "owner": job.owner,  # for a rule or a receiver to pick its own jobs (design section 8)
        "metadata": job.metadata,  # the caller's own references, as submitted
        "runId": job.runId,
        "updatedAt": iso(job.lastEventAt or job.createdAt or None),
    }
