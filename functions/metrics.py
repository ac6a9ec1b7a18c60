"""Names of the functions' business metrics (CloudWatch, through Powertools' EMF). Infra charts and
alarms on the same names, imported from here, so the two sides cannot drift apart. Plain values."""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    # The job API.
    REQUESTS = "Requests"
    JOBS_SUBMITTED = "JobsSubmitted"
    JOBS_REPLAYED = "JobsReplayed"
    CANCELS_REQUESTED = "CancelsRequested"
    UPLOADS_GRANTED = "UploadsGranted"
    # The tracker.
    MESSAGES_RECEIVED = "MessagesReceived"
    MESSAGES_APPLIED = "MessagesApplied"
    MESSAGES_PARKED = "MessagesParked"
    PARKED_MESSAGES_DRAINED = "ParkedMessagesDrained"
    MESSAGES_REJECTED = "MessagesRejected"
    MESSAGES_RETRIED = "MessagesRetried"
    UNKNOWN_MESSAGE_TYPES = "UnknownMessageTypes"
    JOB_WRITES = "JobWrites"
    JOBS_UNCHANGED = "JobsUnchanged"
    WRITE_CONFLICTS = "WriteConflicts"
    # The notifier and webhook delivery.
    EVENTS_PUBLISHED = "EventsPublished"
    WEBHOOKS_QUEUED = "WebhooksQueued"
    CHANGES_IGNORED = "ChangesIgnored"
    WEBHOOKS_DELIVERED = "WebhooksDelivered"
    WEBHOOK_ATTEMPTS_FAILED = "WebhookAttemptsFailed"
    WEBHOOKS_REFUSED = "WebhooksRefused"
    # The watchdog.
    STALLED_JOBS = "StalledJobs"


# What each function's dashboard widget charts.
API_METRICS = (Metric.JOBS_SUBMITTED, Metric.JOBS_REPLAYED, Metric.CANCELS_REQUESTED, Metric.UPLOADS_GRANTED)
TRACKER_METRICS = (
    Metric.MESSAGES_APPLIED,
    Metric.MESSAGES_PARKED,
    Metric.MESSAGES_REJECTED,
    Metric.WRITE_CONFLICTS,
)
NOTIFIER_METRICS = (Metric.EVENTS_PUBLISHED, Metric.WEBHOOKS_QUEUED, Metric.CHANGES_IGNORED)
WATCHDOG_METRICS = (Metric.STALLED_JOBS,)
DELIVERY_METRICS = (Metric.WEBHOOKS_DELIVERED, Metric.WEBHOOK_ATTEMPTS_FAILED, Metric.WEBHOOKS_REFUSED)
