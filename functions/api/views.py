"""Domain jobs as API responses."""

from __future__ import annotations

from functions.api.media import UploadGrant
from functions.api.models import (
    ActivityOut,
    EventOut,
    JobOut,
    JobSummaryOut,
    RunOut,
    SecretOut,
    UploadOut,
    WebhookOut,
)
from functions.api.service import JobView
from functions.jobs.model import TimelineEvent, iso
from functions.store.base import LoadedJob
from functions.webhooks.registry import OwnerWebhook


def job_summary(loaded: LoadedJob) -> JobSummaryOut:
    job = loaded.job
    return JobSummaryOut(
        jobId=job.jobId,
        clientName=job.clientName,
        owner=job.owner,
        metadata=job.metadata,
        status=job.status,
        phase=job.phase,
        progress=job.progress,
        runId=job.runId,
        createdAt=iso(job.createdAt),
        updatedAt=iso(loaded.updated_at),
        error=job.error,
    )


def job_detail(view: JobView) -> JobOut:
    loaded, results = view.loaded, view.results
    job = loaded.job
    activities = []
    shown = job.runs.get(job.runId) if job.runId else None
    for activity in sorted(
        shown.activities.values() if shown else [],
        key=lambda a: (min(a.milestones.values(), default=0.0), a.activityId),
    ):
        activities.append(
            ActivityOut(
                activityId=activity.activityId,
                activityType=activity.activityType,
                activityVersion=activity.activityVersion,
                status=activity.status.value,
                progress=activity.progress,
                progressDetail=activity.progressDetail,
                startedAt=iso(activity.startedAt),
                finishedAt=iso(activity.finishedAt),
                result=results.get(f"{job.runId}/{activity.activityId}"),
                resultSize=activity.result.size if activity.result else None,
                error=activity.errorSummary,
            )
        )
    views = {view.runId: view for view in job.runViews}
    runs = [
        RunOut(
            runId=run.runId,
            workflowId=run.workflowId,
            status=views[run.runId].status,
            phase=views[run.runId].phase,
            progress=views[run.runId].progress,
            scheduledAt=iso(run.scheduledAt),
            endedAt=iso(views[run.runId].endedAt),
        )
        for run in sorted(job.runs.values(), key=lambda r: (r.scheduledAt, r.runId))
        if run.runId in views
    ]
    summary = job_summary(loaded).model_dump()
    return JobOut(
        **summary,
        workflowId=job.workflowId,
        workflowType=job.workflowType,
        lastEventAt=iso(job.lastEventAt),
        dispatchedAt=iso(job.dispatchedAt),
        cancelRequested=job.cancelRequested,
        cancelRequestedAt=iso(job.cancelRequestedAt),
        callbackUrl=job.callbackUrl,
        payload=view.payload or None,
        probe=job.probe,
        outputs=view.outputs,
        activities=activities,
        runs=runs,
    )


def event(entry: TimelineEvent) -> EventOut:
    return EventOut(
        at=iso(entry.at) or "",
        event=entry.event,
        runId=entry.runId,
        activityId=entry.activityId,
        activityType=entry.activityType,
    )


def upload_form(grant: UploadGrant) -> UploadOut:
    return UploadOut(
        uploadId=grant.upload_id,
        url=grant.url,
        fields=grant.fields,
        expiresAt=iso(grant.expires_at) or "",
        maxBytes=grant.max_bytes,
        input_asset=grant.input_asset,
        output_prefix=grant.output_prefix,
    )


def webhook_view(webhook: OwnerWebhook, secret: str | None = None) -> WebhookOut:
    """An owner's webhook; ``secret`` only in the answer that made it."""
    return WebhookOut(
        url=webhook.url,
        secret=secret,
        secrets=[
            SecretOut(createdAt=iso(s.created_at) or "", expiresAt=iso(s.expires_at)) for s in webhook.secrets
        ],
        updatedAt=iso(webhook.updated_at) or "",
    )
