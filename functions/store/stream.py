"""Reading the jobs table's stream: which images are jobs, and the job each holds. The item layout
stays the store's business (functions.store.layout); consumers get domain jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.jobs.model import Job, epoch
from functions.store.base import LoadedJob
from functions.store.layout import JOB_SK, RECORD_ATTRIBUTE, UPDATED_AT_ATTRIBUTE, VERSION_ATTRIBUTE


def job_image(image: Mapping[str, Any] | None) -> LoadedJob | None:
    """The job an image (deserialized, as Powertools gives it) holds, or None for another item."""
    if not image or image.get("sk") != JOB_SK or RECORD_ATTRIBUTE not in image:
        return None
    updated_at = image.get(UPDATED_AT_ATTRIBUTE)
    return LoadedJob(
        Job.model_validate_json(image[RECORD_ATTRIBUTE]),
        int(image.get(VERSION_ATTRIBUTE) or 0),
        _seconds(updated_at) if updated_at is not None else None,
    )


def _seconds(time: Any) -> float:
    """``updatedAt`` is RFC 3339 text; items written before the stream contract kept a number."""
    return epoch(time) if isinstance(time, str) else float(time)
