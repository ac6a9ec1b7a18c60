"""The job state machine against the settled rules (docs/protocol.md, "Settled rules")."""

import pytest

from functions.jobs.errors import PoisonMessage, PoisonReason, UnknownRun
from functions.jobs.machine import (
    apply,
    derive,
    new_job,
    record_stall,
    request_cancel,
    submitted_job,
    timeline,
)
from functions.jobs.model import (
    MAX_ACTIVITIES_PER_RUN,
    MAX_OTHER_TYPES,
    MAX_OUTPUTS_SHOWN,
    MAX_RUNS_PER_JOB,
    ActivityStatus,
    JobStatus,
    Phase,
)
from functions.jobs.protocol import MessageType as M
from functions.jobs.rules import CompletionMode, CompletionRule
from local.ct_simulator import ffprobe_result
from tests.builders import JOB_ID, RUN_ID, act, ended, job_input, parsed, progress, record, scheduled

V, T = "ValidateAssetStep", "TranscodeAssetStep"
PROBE = ffprobe_result()


def validated(t0: float = 1.0) -> list[dict]:
    return [
        scheduled(t0),
        act(M.ACTIVITY_STARTED, V, t0 + 1),
        act(M.ACTIVITY_COMPLETED, V, t0 + 2, result=PROBE),
    ]


def test_ct_run_without_decider_messages_completes_on_its_last_transcode():
    job = record(
        [
            *validated(),
            act(M.ACTIVITY_STARTED, T, 4),
            act(M.ACTIVITY_PREPARING, T, 5),
            progress(T, 6, 50),
            act(M.ACTIVITY_FINISHING, T, 7),
            act(M.ACTIVITY_COMPLETED, T, 8, result=ffprobe_result(854, 480)),
        ]
    )
    assert (job.status.value, job.phase, job.progress) == ("COMPLETED", Phase.COMPLETED, 100)
    assert job.runId == RUN_ID
    assert job.clientName == "ClientA"
    assert job.probe is not None
    assert job.probe["streams"][0]["width"] == 1280
    assert [o["probe"]["streams"][0]["width"] for o in job.outputs] == [854]
    assert job.outputs[0]["bucket"] == "media"
    assert job.outputs[0]["file"] == f"/output/{JOB_ID}/0.mp4"
    assert job.error is None
    assert job.runViews[0].endedAt == 8


@pytest.mark.parametrize(
    ("messages", "status", "phase"),
    [
        ([], "SCHEDULED", Phase.SCHEDULED),
        ([act(M.ACTIVITY_SCHEDULED, V, 2, decider_style=True)], "SCHEDULED", Phase.SCHEDULED),
        ([act(M.ACTIVITY_STARTED, V, 2)], "RUNNING", Phase.VALIDATING),
        ([act(M.ACTIVITY_PREPARING, V, 2)], "RUNNING", Phase.DOWNLOADING),
        ([act(M.ACTIVITY_COMPLETED, V, 2, result=PROBE)], "RUNNING", Phase.WAITING),
        ([act(M.ACTIVITY_COMPLETED, V, 2, result=PROBE), progress(T, 3, 10)], "RUNNING", Phase.TRANSCODING),
        (
            [act(M.ACTIVITY_COMPLETED, V, 2, result=PROBE), act(M.ACTIVITY_FINISHING, T, 3)],
            "RUNNING",
            Phase.UPLOADING,
        ),
        ([act(M.ACTIVITY_STARTED, "Thumbs", 2, activity_type="MakeThumbs")], "RUNNING", Phase.PROCESSING),
    ],
)
def test_status_and_phase_follow_the_activities(messages, status, phase):
    job = record([scheduled(1), *messages])
    assert (job.status.value, job.phase) == (status, phase)


def test_a_job_without_runs_is_submitted_and_queued():
    job = submitted_job("j-1", job_input(), 10.0, "ClientA")
    derive(job, CompletionRule())
    assert (job.status.value, job.phase, job.progress, job.createdAt) == ("SUBMITTED", Phase.QUEUED, 0, 10.0)


def test_phase_shows_the_least_advanced_active_activity():
    job = record([scheduled(1, outputs=2), act(M.ACTIVITY_FINISHING, "T1", 2), progress("T2", 3, 40)])
    assert job.phase is Phase.TRANSCODING


def test_progress_weighs_validation_ten_percent_and_transcodes_ninety():
    assert record([scheduled(1), act(M.ACTIVITY_STARTED, V, 2)]).progress == 0
    assert record(validated()).progress == 10
    assert record([*validated(), progress(T, 4, 50)]).progress == 55
    two = [scheduled(1, outputs=2), act(M.ACTIVITY_COMPLETED, V, 2, result=PROBE)]
    assert record([*two, progress("T1", 3, 50)]).progress == 10 + 22
    assert record([*two, act(M.ACTIVITY_COMPLETED, "T1", 3, result={})]).progress == 10 + 45


def test_progress_reaches_100_only_when_the_job_completes():
    job = record([*validated(), progress(T, 4, 101), act(M.ACTIVITY_FINISHING, T, 5)])
    activity = job.runs[RUN_ID].activities[T]
    assert activity.reportedProgress == 100
    assert activity.progress == 99
    assert (job.status.value, job.progress) == ("RUNNING", 99)
    done = record([*validated(), progress(T, 4, 101), act(M.ACTIVITY_COMPLETED, T, 5, result={})])
    assert (done.status.value, done.progress) == ("COMPLETED", 100)


def test_progress_is_the_maximum_reported():
    job = record([*validated(), progress(T, 4, 70), progress(T, 5, 30)])
    activity = job.runs[RUN_ID].activities[T]
    assert activity.progress == 70
    assert activity.progressDetail == {"progress": 70, "duration": 60.0, "done": 42.0}


def test_expected_finals_come_from_the_outputs_of_the_job():
    base = [scheduled(1, outputs=2), act(M.ACTIVITY_COMPLETED, V, 2, result=PROBE)]
    one = record([*base, act(M.ACTIVITY_COMPLETED, "T1", 3, result={})])
    assert (one.status.value, one.phase, one.progress) == ("RUNNING", Phase.WAITING, 55)
    both = record(
        [*base, act(M.ACTIVITY_COMPLETED, "T1", 3, result={}), act(M.ACTIVITY_COMPLETED, "T2", 4, result={})]
    )
    assert both.status.value == "COMPLETED"


def test_completion_rule_can_require_the_workflow_message():
    rule = CompletionRule(mode=CompletionMode.WORKFLOW_MESSAGE_ONLY)
    messages = [*validated(), act(M.ACTIVITY_COMPLETED, T, 4, result={})]
    waiting = record(messages, rule)
    assert (waiting.status.value, waiting.phase, waiting.progress) == ("RUNNING", Phase.WAITING, 99)
    assert record([*messages, ended(M.WORKFLOW_COMPLETED, 5)], rule).status.value == "COMPLETED"


def test_completion_rule_can_name_other_final_activities_and_a_count():
    rule = CompletionRule(final_activity_types=frozenset({"Publish"}), final_activity_count=2)
    messages = [*validated(), act(M.ACTIVITY_COMPLETED, "P1", 4, result={}, activity_type="Publish")]
    assert record(messages, rule).status.value == "RUNNING"
    messages.append(act(M.ACTIVITY_COMPLETED, "P2", 5, result={}, activity_type="Publish"))
    assert record(messages, rule).status.value == "COMPLETED"


def test_workflow_completed_alone_completes_the_run():
    job = record([scheduled(1), ended(M.WORKFLOW_COMPLETED, 2)])
    assert (job.status.value, job.progress) == ("COMPLETED", 100)


@pytest.mark.parametrize(
    ("reports", "status"),
    [
        (
            [
                act(M.ACTIVITY_COMPLETED, T, 4, result={}),
                act(M.ACTIVITY_FAILED, T, 5, result={"reason": "R"}),
            ],
            "FAILED",
        ),
        (
            [
                act(M.ACTIVITY_FAILED, T, 4, result={"reason": "R"}),
                act(M.ACTIVITY_COMPLETED, T, 5, result={}),
            ],
            "FAILED",
        ),
        ([act(M.ACTIVITY_COMPLETED, T, 4, result={}), ended(M.WORKFLOW_FAILED, 5)], "FAILED"),
        ([ended(M.WORKFLOW_COMPLETED, 4), ended(M.WORKFLOW_FAILED, 5)], "FAILED"),
        ([act(M.ACTIVITY_TIMEOUT, T, 4)], "TIMED_OUT"),
        ([act(M.ACTIVITY_TIMEOUT, T, 4), ended(M.WORKFLOW_FAILED, 5)], "FAILED"),
        ([act(M.ACTIVITY_COMPLETED, T, 4, result={}), act(M.ACTIVITY_TIMEOUT, T, 5)], "TIMED_OUT"),
        ([act(M.ACTIVITY_CANCELED, T, 4)], "FAILED"),
    ],
)
def test_contradicting_terminal_reports_resolve_by_precedence(reports, status):
    assert record([*validated(), *reports]).status.value == status


def test_a_failure_after_a_requested_cancel_is_canceled():
    job = new_job(JOB_ID)
    job.cancelRequested = True
    failed = record([*validated(), ended(M.WORKFLOW_FAILED, 5)], job=job)
    assert (failed.status.value, failed.phase) == ("CANCELED", Phase.CANCELED)
    job = new_job(JOB_ID)
    job.cancelRequested = True
    assert (
        record([*validated(), act(M.ACTIVITY_COMPLETED, T, 5, result={})], job=job).status.value
        == "COMPLETED"
    )


def test_failed_job_explains_why():
    job = record(
        [
            *validated(),
            act(M.ACTIVITY_FAILED, T, 4, result={"reason": "TRANSCODE_FAIL", "details": "x" * 5000}),
        ]
    )
    assert job.error is not None
    assert (job.error["activityId"], job.error["reason"]) == (T, "TRANSCODE_FAIL")
    assert len(job.error["details"].encode()) == 1024  # bytes of UTF-8, as the item is measured
    full = job.runs[RUN_ID].activities[T].error
    assert full is not None
    assert full.value == {"reason": "TRANSCODE_FAIL", "details": "x" * 5000}
    workflow_only = record([*validated(), ended(M.WORKFLOW_FAILED, 4)])
    assert workflow_only.error is not None
    assert workflow_only.error["reason"] == "WORKFLOW_FAILED"


def test_late_activity_messages_update_the_activity_but_not_the_job():
    done = [*validated(), act(M.ACTIVITY_COMPLETED, T, 4, result={})]
    job = record([*done, progress(T, 9, 20), act(M.ACTIVITY_STARTED, "Extra", 10, activity_type="Notify")])
    assert (job.status.value, job.progress) == ("COMPLETED", 100)
    transcode = job.runs[RUN_ID].activities[T]
    assert transcode.status is ActivityStatus.COMPLETED
    assert (transcode.milestones[ActivityStatus.RUNNING], transcode.reportedProgress, transcode.progress) == (
        9,
        20,
        100,
    )
    assert job.runs[RUN_ID].activities["Extra"].status is ActivityStatus.STARTED


def test_activity_never_moves_backwards():
    job = record(
        [*validated(), act(M.ACTIVITY_FINISHING, T, 4), act(M.ACTIVITY_PREPARING, T, 5), progress(T, 6, 80)]
    )
    assert job.runs[RUN_ID].activities[T].status is ActivityStatus.FINISHING


def test_several_runs_show_the_earliest_unless_another_completed():
    second = "SecondRun/xyz="
    both = [scheduled(5), scheduled(3, run_id=second)]
    job = record([*both, act(M.ACTIVITY_STARTED, V, 6)])
    assert (job.runId, job.status.value, len(job.runViews)) == (second, "SCHEDULED", 2)
    job = record([*both, act(M.ACTIVITY_STARTED, V, 6), ended(M.WORKFLOW_FAILED, 7, run_id=second)])
    assert (job.runId, job.status.value) == (second, "FAILED")
    job = record([*both, ended(M.WORKFLOW_FAILED, 7, run_id=second), ended(M.WORKFLOW_COMPLETED, 8)])
    assert (job.runId, job.status.value) == (RUN_ID, "COMPLETED")


def test_job_from_workflow_scheduled_takes_client_and_payload_from_its_input():
    job = record([scheduled(1, client="SiteB")])
    assert job.clientName == "SiteB"
    assert job.payload is not None
    assert job.payload.value == job_input(1, "SiteB")
    assert (job.payloadSource, job.createdAt) == ("workflow", 1)


def test_submitted_job_keeps_its_own_payload_and_creation_time():
    job = submitted_job(
        JOB_ID, {"input_asset": {"type": "VIDEO"}, "output_asset": {"type": "VIDEO"}}, 0.5, "Api"
    )
    job = record([scheduled(1, client="Other")], job=job)
    assert (job.clientName, job.createdAt, job.payloadSource) == ("Api", 0.5, "api")
    assert job.payload is not None
    assert "client" not in job.payload.value
    assert job.status.value == "SCHEDULED"


def test_results_are_kept_as_reported_and_only_probes_count_as_probes():
    for result in ([1, 2], "ok", {}, {"format": "not a dict"}):
        job = record([scheduled(1), act(M.ACTIVITY_COMPLETED, V, 2, result=result)])
        activity = job.runs[RUN_ID].activities[V]
        assert activity.result is not None
        assert activity.result.value == result
        assert job.probe is None


def test_engine_output_list_counts_as_outputs():
    result = {
        "outputs": [
            {
                "bucket": "media",
                "key": "out/v.m3u8",
                "size": 312,
                "contentType": "application/vnd.apple.mpegurl",
                "probe": ffprobe_result(640, 360),
            },
            {"bucket": "media", "key": "out/v0.ts", "size": 81920, "contentType": "video/mp2t"},
            {"not": "an output"},
        ]
    }
    job = record([*validated(), act(M.ACTIVITY_COMPLETED, T, 4, result=result)])
    assert [o["key"] for o in job.outputs] == ["out/v.m3u8", "out/v0.ts"]
    assert job.outputs[0]["probe"]["streams"][0]["height"] == 360
    assert job.runs[RUN_ID].activities[T].outputsTotal == 2


def test_an_output_of_many_files_cannot_hide_the_other_outputs_files():
    """A job lists at most MAX_OUTPUTS_SHOWN objects, shared between its outputs: an adaptive
    package's segments leave room for every other output, each keeping its first (main) files."""

    def objects(name: str, count: int) -> dict:
        return {"outputs": [{"bucket": "media", "key": f"out/{name}/{n}", "size": 1} for n in range(count)]}

    package, board = f"{T}1", f"{T}2"
    job = record(
        [
            *validated(),
            act(M.ACTIVITY_COMPLETED, package, 4, result=objects("abr", 60)),
            act(M.ACTIVITY_COMPLETED, board, 5, result=objects("board", 3)),
        ]
    )
    keys = [o["key"] for o in job.outputs]
    assert len(keys) == MAX_OUTPUTS_SHOWN
    assert keys[0] == "out/abr/0" and keys[-3:] == ["out/board/0", "out/board/1", "out/board/2"]
    assert job.runs[RUN_ID].activities[package].outputsTotal == 60


def test_unknown_types_are_recorded_on_the_run_and_in_the_timeline():
    heartbeat = {"time": 3.0, "type": "ACTIVITY_HEARTBEAT", "data": {"workflow": {"runId": RUN_ID}}}
    job = record([scheduled(1), heartbeat])
    assert job.runs[RUN_ID].otherTypes == {"ACTIVITY_HEARTBEAT": 3.0}
    assert [e.event for e in timeline(job)] == ["WORKFLOW_SCHEDULED", "OTHER:ACTIVITY_HEARTBEAT"]


def test_too_many_unknown_types_is_poison():
    job = record([scheduled(1)])
    for i in range(MAX_OTHER_TYPES):
        apply(job, parsed({"time": 2.0, "type": f"T{i}", "data": {"workflow": {"runId": RUN_ID}}}))
    with pytest.raises(PoisonMessage) as caught:
        apply(job, parsed({"time": 2.0, "type": "ONE_MORE", "data": {"workflow": {"runId": RUN_ID}}}))
    assert caught.value.reason is PoisonReason.LIMIT_EXCEEDED


def test_run_and_activity_limits_are_poison():
    job = record([scheduled(1)])
    for i in range(MAX_ACTIVITIES_PER_RUN):
        apply(job, parsed(act(M.ACTIVITY_STARTED, f"A{i}", 2)))
    with pytest.raises(PoisonMessage):
        apply(job, parsed(act(M.ACTIVITY_STARTED, "TooMany", 2)))
    job = new_job(JOB_ID)
    for i in range(MAX_RUNS_PER_JOB):
        apply(job, parsed(scheduled(1, run_id=f"r{i}")))
    with pytest.raises(PoisonMessage):
        apply(job, parsed(scheduled(1, run_id="one-too-many")))


def test_a_message_for_a_run_the_job_does_not_have_is_refused():
    with pytest.raises(UnknownRun):
        apply(new_job(JOB_ID), parsed(act(M.ACTIVITY_STARTED, V, 2)))


def test_timeline_is_bounded_by_activities_not_messages():
    burst = [progress(T, 4 + i / 100, i % 101) for i in range(2000)]
    job = record(
        [*validated(), act(M.ACTIVITY_STARTED, T, 3.5), *burst, act(M.ACTIVITY_COMPLETED, T, 30, result={})]
    )
    events = timeline(job)
    assert [(e.event, e.activityId) for e in events] == [
        ("WORKFLOW_SCHEDULED", None),
        ("ACTIVITY_STARTED", V),
        ("ACTIVITY_COMPLETED", V),
        ("ACTIVITY_STARTED", T),
        ("ACTIVITY_PROGRESS", T),
        ("ACTIVITY_COMPLETED", T),
    ]
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert len(job.model_dump_json()) < 10_000  # thousands of messages, a record of a few KB


def test_php_and_decider_type_names_merge_to_one_pair():
    decider = act(M.ACTIVITY_SCHEDULED, T, 3, decider_style=True)
    php = act(M.ACTIVITY_STARTED, T, 4)
    unversioned = act(M.ACTIVITY_PROGRESS, T, 5, result={"progress": 1})
    del unversioned["data"]["activity"]["activityType"]["version"]
    for order in ([decider, php, unversioned], [unversioned, php, decider], [php, unversioned, decider]):
        activity = record([scheduled(1), *order]).runs[RUN_ID].activities[T]
        assert (activity.activityType, activity.activityVersion) == ("TranscodeAsset", "v2")


SWF_CANCEL = {"reason": "HEARTBEAT_FAILED", "details": "[TranscodeAsset] Cancel request received: stopping"}


@pytest.mark.parametrize("ending", [M.WORKFLOW_FAILED, None])
def test_a_cancel_requested_in_swf_ends_the_run_canceled_and_the_activity_keeps_its_failure(ending):
    """Settled rule 10: the failure CT reports when SWF refuses its heartbeat for a cancel."""
    messages = [
        scheduled(1),
        act(M.ACTIVITY_STARTED, T, 2),
        act(M.ACTIVITY_FAILED, T, 3, result=SWF_CANCEL),
        *([ended(ending, 4)] if ending else []),
    ]
    for order in (messages, [messages[0], *reversed(messages[1:])]):
        job = record(order)
        assert (job.status, job.phase) == (JobStatus.CANCELED, Phase.CANCELED)
        assert job.runs[RUN_ID].activities[T].status.value == "FAILED"
        assert job.error is not None and job.error["reason"] == "HEARTBEAT_FAILED"
        assert not job.cancelRequested  # not through this API: the run's own evidence


def test_workflow_canceled_ends_the_run_canceled():
    job = record([scheduled(1), act(M.ACTIVITY_STARTED, T, 2), ended(M.WORKFLOW_CANCELED, 3)])
    assert job.status is JobStatus.CANCELED


def test_a_heartbeat_failure_without_a_cancel_request_stays_failed():
    lost = {"reason": "HEARTBEAT_FAILED", "details": "the activity stopped sending heartbeats"}
    job = record([scheduled(1), act(M.ACTIVITY_FAILED, T, 3, result=lost)])
    assert job.status is JobStatus.FAILED


def test_a_stalled_job_times_out_with_a_reason_and_a_later_completion_still_wins():
    job = record([*validated(), progress(T, 4, 30)])
    record_stall(job, 5000.0, 3600)
    derive(job, CompletionRule())
    assert (job.status.value, job.phase) == ("TIMED_OUT", Phase.TIMED_OUT)
    assert job.error is not None and job.error["reason"] == "STALLED"
    assert "3600 s" in job.error["details"]
    assert job.lastEventAt == 5000.0
    assert job.runViews[0].endedAt == 5000.0
    assert timeline(job)[-1].event == "STALLED"
    late = record([act(M.ACTIVITY_COMPLETED, T, 5001, result={})], job=job)
    assert (late.status.value, late.error) == ("COMPLETED", None)  # the real outcome replaces the guess


def test_a_late_failure_of_a_stalled_job_replaces_the_watchdogs_finding():
    job = record([*validated()])
    record_stall(job, 5000.0, 3600)
    failed = record([act(M.ACTIVITY_FAILED, T, 5001, result={"reason": "BOOM", "details": "x"})], job=job)
    assert failed.status.value == "FAILED"
    assert failed.error is not None and failed.error["reason"] == "BOOM"


def test_a_stall_does_not_change_a_run_that_already_ended():
    job = record([*validated(), act(M.ACTIVITY_FAILED, T, 4, result={"reason": "BOOM", "details": "x"})])
    record_stall(job, 5000.0, 3600)
    derive(job, CompletionRule())
    assert (job.status.value, job.error["reason"]) == ("FAILED", "BOOM")


def test_a_stall_is_a_fact_like_the_others_the_earliest_finding_is_kept():
    first, second = record([*validated()]), record([*validated()])
    record_stall(first, 5000.0, 3600)
    record_stall(first, 9000.0, 7600)
    record_stall(second, 9000.0, 7600)
    record_stall(second, 5000.0, 3600)
    record_stall(second, 5000.0, 3600)
    assert first.stall == second.stall
    assert first.stall is not None and first.stall.silentSeconds == 3600


@pytest.mark.parametrize(("cancel", "status"), [(False, "TIMED_OUT"), (True, "CANCELED")])
def test_a_job_never_scheduled_times_out_or_if_a_cancel_was_asked_is_canceled(cancel, status):
    job = submitted_job("j-1", job_input(), 10.0, "ClientA")
    if cancel:
        request_cancel(job, 20.0)
    record_stall(job, 3700.0, 3680)
    derive(job, CompletionRule())
    assert (job.status.value, job.phase.value, job.progress) == (status, status, 0)
    assert job.error is not None and job.error["reason"] == "STALLED"
