"""The job state machine: apply output messages to a job, then derive its view.

:func:`apply` only merges facts (each merge is commutative, associative and idempotent), and
:func:`derive` computes the view from the facts alone. Any permutation of a job's messages, with any
duplicates, therefore yields the record that in-order, exactly-once delivery yields.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functions.jobs.errors import PoisonMessage, PoisonReason, UnknownRun
from functions.jobs.messages import WORKFLOW_ENDINGS, MessageType, OutputMessage, is_swf_cancel
from functions.jobs.model import (
    ERROR_DETAILS_SHOWN,
    ERROR_REASON_SHOWN,
    MAX_ACTIVITIES_PER_RUN,
    MAX_OTHER_TYPES,
    MAX_OUTPUTS_SHOWN,
    MAX_RUNS_PER_JOB,
    MAX_STREAMS_SHOWN,
    TERMINAL_PRECEDENCE,
    ActivityState,
    ActivityStatus,
    Job,
    JobStatus,
    Phase,
    Reported,
    RunState,
    RunView,
    Stall,
    TimelineEvent,
)
from functions.jobs.payload import count_outputs
from functions.jobs.rules import CompletionRule
from functions.jobs.wire import JsonValue

_ACTIVITY_STATUS_OF = {
    MessageType.ACTIVITY_SCHEDULED: ActivityStatus.SCHEDULED,
    MessageType.ACTIVITY_STARTED: ActivityStatus.STARTED,
    MessageType.ACTIVITY_PREPARING: ActivityStatus.PREPARING,
    MessageType.ACTIVITY_PROGRESS: ActivityStatus.RUNNING,
    MessageType.ACTIVITY_FINISHING: ActivityStatus.FINISHING,
    MessageType.ACTIVITY_COMPLETED: ActivityStatus.COMPLETED,
    MessageType.ACTIVITY_TIMEOUT: ActivityStatus.TIMED_OUT,
    MessageType.ACTIVITY_FAILED: ActivityStatus.FAILED,
    MessageType.ACTIVITY_CANCELED: ActivityStatus.CANCELED,
}
_MESSAGE_OF_STATUS = {status: message for message, status in _ACTIVITY_STATUS_OF.items()}


def new_job(job_id: str) -> Job:
    return Job(jobId=job_id)


def submitted_job(
    job_id: str,
    payload: dict[str, Any],
    submitted_at: float,
    client_name: str | None,
    *,
    owner: str | None = None,
    request_digest: str | None = None,
    callback_url: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Job:
    """A job recorded by the API before START_JOB is sent (status SUBMITTED, not dispatched yet)."""
    job = Job(
        jobId=job_id,
        submittedAt=submitted_at,
        clientName=client_name,
        owner=owner,
        payloadSource="api",
        requestDigest=request_digest,
        callbackUrl=callback_url,
        metadata=metadata,
    )
    _set_payload(job, Reported.of(payload, submitted_at))
    return job


def request_cancel(job: Job, at: float) -> None:
    """Record that a cancel was requested: a run that then ends other than completed is CANCELED
    (settled rule 2). Call :func:`derive` afterwards."""
    if not job.cancelRequested:
        job.cancelRequested, job.cancelRequestedAt = True, at


def record_stall(job: Job, at: float, silent_seconds: int) -> None:
    """Record the watchdog's finding that nothing was heard of the job for ``silent_seconds``: a run
    that has not ended by its own reports is TIMED_OUT from then on, and an end reported later (a
    completion, a failure) replaces the finding. The earliest finding is kept. Call :func:`derive`
    afterwards."""
    if job.stall is None or at < job.stall.at:
        job.stall = Stall(at=at, silentSeconds=silent_seconds)


def ended_only_by_stall(job: Job, rule: CompletionRule) -> bool:
    """Whether the job ended through the watchdog's finding alone (its work may still be going
    on, so a cancel is still worth sending), not by a report of its own."""
    if job.stall is None:
        return False
    without = job.model_copy(deep=True)
    without.stall = None
    derive(without, rule)
    return not without.status.is_terminal


def _earliest(current: float | None, at: float) -> float:
    return at if current is None or at < current else current


def _set_payload(job: Job, payload: Reported) -> None:
    job.payload = payload
    value = payload.value if isinstance(payload.value, dict) else {}
    outputs = value.get("output_assets")
    if not isinstance(outputs, list):
        outputs = [value["output_asset"]] if isinstance(value.get("output_asset"), dict) else []
    job.outputsSpec = [
        {key: item[key] for key in ("type", "bucket", "file", "path") if isinstance(item.get(key), str)}
        for item in outputs[:MAX_OUTPUTS_SHOWN]
        if isinstance(item, dict)
    ]
    if job.payloadSource == "workflow":
        client = value.get("client")
        name = client.get("name") if isinstance(client, dict) else None
        job.clientName = name if isinstance(name, str) else None  # settled rule 9


# --------------------------------------------------------------------------- apply


def apply(job: Job, message: OutputMessage, run_id: str | None = None) -> None:
    """Merge one message into ``job``'s facts. ``run_id`` is the run the message was attributed to
    (a message may name its run by ``workflowId`` only). Call :func:`derive` afterwards."""
    run_id = run_id or message.run_id
    if message.type is MessageType.WORKFLOW_SCHEDULED:
        _apply_scheduled(job, message)
        return
    if run_id is None:
        # Only messages of unknown types can name a job without a run.
        _record_other(job.otherTypes, message)
        return
    run = job.runs.get(run_id)
    if run is None:
        raise UnknownRun(f"run {run_id} is not part of job {job.jobId}")
    if message.type in WORKFLOW_ENDINGS:
        run.workflowReports[message.type.value] = _earliest(
            run.workflowReports.get(message.type.value), message.time
        )
        if message.type is MessageType.WORKFLOW_CANCELED:  # canceled in SWF (settled rule 10)
            run.cancelRequestedAt = _earliest(run.cancelRequestedAt, message.time)
        known = run.workflowError
        if message.error is not None and (
            known is None or (message.time, message.digest) < (known["at"], known["digest"])
        ):
            # The earliest report wins, whatever the order they arrive in (a join, like the rest).
            run.workflowError = {
                "reason": _short(message.error.reason, ERROR_REASON_SHOWN),
                "details": _short(message.error.details, ERROR_DETAILS_SHOWN),
                "at": message.time,
                "digest": message.digest,
            }
    elif message.type in _ACTIVITY_STATUS_OF:
        _apply_activity(run, message)
    else:
        _record_other(run.otherTypes, message)


def _record_other(other_types: dict[str, float], message: OutputMessage) -> None:
    if message.raw_type not in other_types and len(other_types) >= MAX_OTHER_TYPES:
        raise PoisonMessage(PoisonReason.LIMIT_EXCEEDED, f"more than {MAX_OTHER_TYPES} unknown message types")
    other_types[message.raw_type] = _earliest(other_types.get(message.raw_type), message.time)


def _apply_scheduled(job: Job, message: OutputMessage) -> None:
    link = message.link
    if link is None:
        raise PoisonMessage(PoisonReason.NO_IDENTIFIER, "WORKFLOW_SCHEDULED without jobId and runId")
    run = job.runs.get(link.run_id)
    if run is None:
        if len(job.runs) >= MAX_RUNS_PER_JOB:
            raise PoisonMessage(PoisonReason.LIMIT_EXCEEDED, f"job has more than {MAX_RUNS_PER_JOB} runs")
        run = job.runs[link.run_id] = RunState(
            runId=link.run_id, scheduledAt=message.time, scheduledDigest=message.digest
        )
        _describe_run(run, message)
    elif (message.time, message.digest) < (run.scheduledAt, run.scheduledDigest):
        # A run's attributes come from its earliest WORKFLOW_SCHEDULED.
        run.scheduledAt, run.scheduledDigest = message.time, message.digest
        _describe_run(run, message)

    defines_run = (message.time, message.digest) == (run.scheduledAt, run.scheduledDigest)
    if job.payloadSource != "api" and defines_run:
        # A job not submitted through the API takes the input of its earliest run.
        primary = job.runs.get(job.payloadRunId) if job.payloadRunId else None
        if primary is None or (run.scheduledAt, run.runId) <= (primary.scheduledAt, primary.runId):
            job.payloadSource, job.payloadRunId = "workflow", run.runId
            _set_payload(job, Reported.of(message.input or {}, message.time))


def _describe_run(run: RunState, message: OutputMessage) -> None:
    run.workflowId = message.workflow_id
    run.workflowType = (
        {"name": message.workflow_type[0], "version": message.workflow_type[1]}
        if message.workflow_type
        else None
    )
    run.outputCount = count_outputs(message.input)


def _apply_activity(run: RunState, message: OutputMessage) -> None:
    if message.activity_id is None:
        raise PoisonMessage(PoisonReason.INVALID_SHAPE, f"{message.raw_type} names no activity")
    activity = run.activities.get(message.activity_id)
    if activity is None:
        if len(run.activities) >= MAX_ACTIVITIES_PER_RUN:
            raise PoisonMessage(
                PoisonReason.LIMIT_EXCEEDED, f"run has more than {MAX_ACTIVITIES_PER_RUN} activities"
            )
        activity = run.activities[message.activity_id] = ActivityState(activityId=message.activity_id)

    if message.activity_type is not None:
        # PHP and Decider messages name the type differently; keep one deterministic pair,
        # preferring a pair that carries a version.
        incoming = (message.activity_type, message.activity_version)
        current = (activity.activityType, activity.activityVersion)
        if activity.activityType is None or _type_order(incoming) < _type_order(current):
            activity.activityType, activity.activityVersion = incoming

    status = _ACTIVITY_STATUS_OF[message.type]
    if status.rank > activity.status.rank:
        activity.status = status
    activity.milestones[status] = _earliest(activity.milestones.get(status), message.time)

    if message.progress is not None:
        activity.reportedProgress = max(activity.reportedProgress, min(100.0, max(0.0, message.progress)))
        candidate = {"progress": message.progress, **(message.progress_detail or {})}
        if _detail_key(candidate) > _detail_key(activity.progressDetail):
            activity.progressDetail = candidate

    if message.type is MessageType.ACTIVITY_COMPLETED and message.has_result:
        report = Reported.of(message.result, message.time)
        if report.precedes(activity.result):
            activity.result = report
            activity.probe, activity.outputs, activity.outputsTotal = _summarize_result(message.result)
    if message.error is not None:
        error = {"reason": message.error.reason, "details": message.error.details}
        report = Reported.of(error, message.time)
        if is_swf_cancel(message.error):  # settled rule 10: a cancel requested in SWF
            run.cancelRequestedAt = _earliest(run.cancelRequestedAt, message.time)
        if report.precedes(activity.error):
            activity.error = report
            activity.errorSummary = {
                "reason": _short(message.error.reason, ERROR_REASON_SHOWN),
                "details": _short(message.error.details, ERROR_DETAILS_SHOWN),
            }


def _type_order(pair: tuple[str | None, str | None]) -> tuple[str, bool, str]:
    return (pair[0] or "", pair[1] is None, pair[1] or "")


def _detail_key(detail: dict[str, float] | None) -> tuple[float, float, float]:
    """The most advanced progress report wins (by progress, then seconds done, then duration)."""
    detail = detail or {}
    return (detail.get("progress", -1.0), detail.get("done", -1.0), detail.get("duration", -1.0))


def _short(value: JsonValue, limit: int) -> JsonValue:
    """``value`` as text of at most ``limit`` bytes of UTF-8 (a job item is measured in bytes: 100
    activities' details of 1,024 emoji each would be 400 KB, DynamoDB's limit), cut on a
    character boundary and marked with an ellipsis."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", "ignore") + "\u2026"


# --------------------------------------------------------------------------- results: probes and outputs

_FORMAT_FIELDS = ("format_name", "format_long_name", "duration", "size", "bit_rate", "nb_streams")
_STREAM_FIELDS = (
    "index",
    "codec_type",
    "codec_name",
    "profile",
    "width",
    "height",
    "pix_fmt",
    "r_frame_rate",
    "avg_frame_rate",
    "sample_rate",
    "channels",
    "channel_layout",
    "bit_rate",
    "duration",
    "rotation",
)


def is_probe(value: JsonValue) -> bool:
    """Settled rule 8: only an ffprobe-shaped object counts as probe metadata."""
    return isinstance(value, dict) and (
        isinstance(value.get("format"), dict) or isinstance(value.get("streams"), list)
    )


def probe_summary(probe: dict[str, Any]) -> dict[str, Any]:
    """The part of an ffprobe document worth keeping on the job item."""
    summary: dict[str, Any] = {}
    for key in ("mime", "type"):
        if isinstance(probe.get(key), str):
            summary[key] = probe[key]
    fmt = probe.get("format")
    if isinstance(fmt, dict):
        summary["format"] = {
            key: fmt[key] for key in _FORMAT_FIELDS if key in fmt and not isinstance(fmt[key], dict | list)
        }
    streams = probe.get("streams")
    if isinstance(streams, list):
        kept = []
        for stream in streams[:MAX_STREAMS_SHOWN]:
            if not isinstance(stream, dict):
                continue
            entry = {
                key: stream[key]
                for key in _STREAM_FIELDS
                if key in stream and not isinstance(stream[key], dict | list)
            }
            rotation = (
                (stream.get("tags") or {}).get("rotate") if isinstance(stream.get("tags"), dict) else None
            )
            if rotation is not None and "rotation" not in entry:
                entry["rotation"] = rotation
            kept.append(entry)
        summary["streams"] = kept
        summary["streamCount"] = len(streams)
    return summary


def _summarize_result(result: JsonValue) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None, int]:
    """(probe summary, outputs, total outputs) of an activity result.

    Our engine returns ``{"outputs": [{bucket, key, size, contentType, probe}], ...}``; CT returns the
    ffprobe document of its single output. Anything else is kept as is but is neither."""
    probe = probe_summary(result) if is_probe(result) else None
    listed = (
        result.get("outputs") if isinstance(result, dict) else result if isinstance(result, list) else None
    )
    if isinstance(listed, list):
        objects = [
            item
            for item in listed
            if isinstance(item, dict)
            and isinstance(item.get("bucket"), str)
            and isinstance(item.get("key"), str)
        ]
        if objects:
            outputs = []
            for item in objects[:MAX_OUTPUTS_SHOWN]:
                entry = {k: item[k] for k in ("bucket", "key", "size", "contentType") if k in item}
                if is_probe(item.get("probe")):
                    entry["probe"] = probe_summary(item["probe"])
                outputs.append(entry)
            return probe, outputs, len(objects)
    if probe is not None:
        return probe, [{"probe": probe}], 1
    return None, None, 0


# --------------------------------------------------------------------------- derive


def derive(job: Job, rule: CompletionRule) -> None:
    """Recompute ``job``'s view from its facts (settled rules 1-6)."""
    views = {
        run_id: _view_run(run, rule, job.cancelRequested or run.cancelRequestedAt is not None, job.stall)
        for run_id, run in job.runs.items()
    }
    job.runViews = [views[run_id] for run_id in sorted(views)]
    times = [job.submittedAt] if job.submittedAt is not None else []
    times += [run.scheduledAt for run in job.runs.values()]
    job.createdAt = job.submittedAt if job.submittedAt is not None else min(times, default=0.0)
    job.lastEventAt = max(_event_times(job), default=None)

    shown = _shown_run(job, views)
    if shown is None:
        job.status, job.phase, job.progress, job.error = JobStatus.SUBMITTED, Phase.QUEUED, 0, None
        if job.stall is not None:  # never scheduled: nothing took the job
            ended = JobStatus.CANCELED if job.cancelRequested else JobStatus.TIMED_OUT  # as settled rule 2
            job.status, job.phase, job.error = ended, Phase(ended.value), _stall_error(job.stall)
        job.runId = job.workflowId = job.workflowType = job.probe = None
        job.outputs = []
        return
    run, view = job.runs[shown], views[shown]
    job.status, job.phase, job.progress, job.error = view.status, view.phase, view.progress, view.error
    job.runId, job.workflowId, job.workflowType = run.runId, run.workflowId, run.workflowType
    job.probe = _run_probe(run, rule)
    job.outputs = _run_outputs(job, run, rule)


def _shown_run(job: Job, views: dict[str, RunView]) -> str | None:
    """Settled rule 5: the earliest completed run if any, else the primary (earliest scheduled) run."""

    def order(run_id: str) -> tuple[float, str]:
        return (job.runs[run_id].scheduledAt, run_id)

    completed = [run_id for run_id, view in views.items() if view.status is JobStatus.COMPLETED]
    candidates = completed or list(views)
    return min(candidates, key=order) if candidates else None


def _finals(run: RunState, rule: CompletionRule) -> list[ActivityState]:
    return [a for a in run.activities.values() if a.activityType in rule.final_activity_types]


def _view_run(run: RunState, rule: CompletionRule, cancel_requested: bool, stall: Stall | None) -> RunView:
    activities = list(run.activities.values())
    finals = _finals(run, rule)
    expected = rule.expected_finals(run.outputCount)
    finals_done = sum(1 for a in finals if a.completed) >= expected
    completion = MessageType.WORKFLOW_COMPLETED.value in run.workflowReports or (
        rule.completes_on_final_activities and finals_done
    )

    reached: set[JobStatus] = set()
    if completion:
        reached.add(JobStatus.COMPLETED)
    if any(a.status is ActivityStatus.TIMED_OUT for a in activities):
        reached.add(JobStatus.TIMED_OUT)
    if {
        MessageType.WORKFLOW_FAILED.value,
        MessageType.WORKFLOW_CANCELED.value,
    } & run.workflowReports.keys() or any(
        a.status in (ActivityStatus.FAILED, ActivityStatus.CANCELED) for a in activities
    ):
        reached.add(JobStatus.FAILED)
    if stall is not None and not reached:
        # The watchdog's finding is a guess from silence: whatever the run itself reports wins.
        reached.add(JobStatus.TIMED_OUT)

    validate = [a.progress for a in activities if a.activityType == rule.validate_activity_type]
    weighted = 10 * max(validate, default=0) / 100 + min(
        90.0, sum(a.progress for a in finals) * 90 / (100 * expected)
    )
    progress = 100 if completion else min(99, int(weighted))

    if reached:
        status = max(reached, key=TERMINAL_PRECEDENCE.index)
        if status is not JobStatus.COMPLETED and cancel_requested:
            status = JobStatus.CANCELED  # settled rule 2: a requested cancel that ended the run
        ended = list(run.workflowReports.values())
        ended += [at for a in activities if (at := a.finishedAt) is not None]
        ended += [stall.at] if stall is not None else []
        return RunView(
            runId=run.runId,
            status=status,
            phase=Phase(status.value),
            progress=progress,
            completionEvidence=completion,
            endedAt=max(ended, default=None),
            error=None if status is JobStatus.COMPLETED else _run_error(run, status, stall),
        )

    started = any(a.status is not ActivityStatus.SCHEDULED for a in activities)
    return RunView(
        runId=run.runId,
        status=JobStatus.RUNNING if started else JobStatus.SCHEDULED,
        phase=_phase(activities, rule) if started else Phase.SCHEDULED,
        progress=progress,
        completionEvidence=False,
    )


def _phase(activities: list[ActivityState], rule: CompletionRule) -> Phase:
    active = [a for a in activities if a.status.is_active]
    if not active:
        return Phase.WAITING
    # The least advanced active activity is what the job waits on (ties: smallest activityId).
    current = min(active, key=lambda a: (a.status.rank, a.activityId))
    if current.status is ActivityStatus.PREPARING:
        return Phase.DOWNLOADING
    if current.status is ActivityStatus.FINISHING:
        return Phase.UPLOADING
    if current.activityType == rule.validate_activity_type:
        return Phase.VALIDATING
    if current.activityType in rule.final_activity_types:
        return Phase.TRANSCODING
    return Phase.PROCESSING


def _run_error(run: RunState, status: JobStatus, stall: Stall | None) -> dict[str, Any]:
    failed = [
        a
        for a in run.activities.values()
        if a.error is not None and a.status.rank > ActivityStatus.COMPLETED.rank
    ]
    if failed:
        first = min(failed, key=lambda a: (a.error.at if a.error else 0.0, a.activityId))
        return {
            "activityId": first.activityId,
            "activityType": first.activityType,
            **(first.errorSummary or {}),
        }
    if MessageType.WORKFLOW_FAILED.value in run.workflowReports and run.workflowError is not None:
        return {"reason": run.workflowError["reason"], "details": run.workflowError["details"]}
    if MessageType.WORKFLOW_FAILED.value in run.workflowReports:
        return {"reason": "WORKFLOW_FAILED", "details": "the workflow failed (CPE's Decider gives no reason)"}
    if stall is not None and status is JobStatus.TIMED_OUT:
        return _stall_error(stall)
    return {"reason": status.value, "details": None}


def _stall_error(stall: Stall) -> dict[str, Any]:
    return {
        "reason": "STALLED",
        "details": f"nothing was reported for {stall.silentSeconds} s; ended by the watchdog "
        "(an end reported later replaces this one)",
    }


def _run_probe(run: RunState, rule: CompletionRule) -> dict[str, Any] | None:
    validators = sorted(
        (a for a in run.activities.values() if a.activityType == rule.validate_activity_type and a.probe),
        key=lambda a: a.activityId,
    )
    return validators[0].probe if validators else None


def _run_outputs(job: Job, run: RunState, rule: CompletionRule) -> list[dict[str, Any]]:
    per_activity: list[list[dict[str, Any]]] = []
    for activity in sorted(_finals(run, rule), key=lambda a: a.activityId):
        entries = []
        for output in activity.outputs or []:
            entry = {"activityId": activity.activityId, **output}
            if "key" not in output and len(job.outputsSpec) == 1:
                # CT returns only the ffprobe of its single output; the destination is the job's.
                entry.update({k: v for k, v in job.outputsSpec[0].items() if k in ("bucket", "file")})
            entries.append(entry)
        per_activity.append(entries)
    # At most MAX_OUTPUTS_SHOWN in all, shared so that an output of many files (an adaptive
    # package's segments) cannot hide the others: each keeps its first files (its main one first).
    share = MAX_OUTPUTS_SHOWN
    while sum(min(len(entries), share) for entries in per_activity) > MAX_OUTPUTS_SHOWN:
        share -= 1
    return [entry for entries in per_activity for entry in entries[:share]]


def _event_times(job: Job) -> Iterable[float]:
    yield from job.otherTypes.values()
    if job.stall is not None:
        yield job.stall.at
    for run in job.runs.values():
        yield run.scheduledAt
        yield from run.workflowReports.values()
        yield from run.otherTypes.values()
        for activity in run.activities.values():
            yield from activity.milestones.values()


# --------------------------------------------------------------------------- timeline


def timeline(job: Job) -> list[TimelineEvent]:
    """The job's events, oldest first: the first report of every state each activity and run went
    through (progress bursts collapse into one ``RUNNING`` event). Bounded by the number of
    activities, whatever the number of messages."""
    events: list[TimelineEvent] = []
    if job.submittedAt is not None:
        events.append(TimelineEvent(at=job.submittedAt, event="SUBMITTED"))
    events += [TimelineEvent(at=at, event=f"OTHER:{name}") for name, at in job.otherTypes.items()]
    if job.stall is not None:
        events.append(TimelineEvent(at=job.stall.at, event="STALLED"))
    for run in job.runs.values():
        events.append(TimelineEvent(at=run.scheduledAt, event="WORKFLOW_SCHEDULED", runId=run.runId))
        events += [
            TimelineEvent(at=at, event=name, runId=run.runId) for name, at in run.workflowReports.items()
        ]
        events += [
            TimelineEvent(at=at, event=f"OTHER:{name}", runId=run.runId)
            for name, at in run.otherTypes.items()
        ]
        for activity in run.activities.values():
            events += [
                TimelineEvent(
                    at=at,
                    event=_MESSAGE_OF_STATUS[status].value,
                    runId=run.runId,
                    activityId=activity.activityId,
                    activityType=activity.activityType,
                )
                for status, at in activity.milestones.items()
            ]
    order = {message.value: rank for rank, message in enumerate(_ACTIVITY_STATUS_OF)}
    return sorted(
        events, key=lambda e: (e.at, e.runId or "", e.activityId or "", order.get(e.event, -1), e.event)
    )
