"""The parser against the message shapes of docs/protocol.md (examples from the original code)."""

import json

import pytest

from functions.jobs.commands import StartJob
from functions.jobs.errors import PoisonMessage, PoisonReason
from functions.jobs.payload import JobPayload, count_outputs
from functions.jobs.protocol import MessageType, RunKey, RunLink, parse_output_message
from tests.documented import EXECUTION, INPUT_VIDEO1, WORKFLOW_SCHEDULED

RUN_ID = EXECUTION["runId"]
WORKFLOW_ID = EXECUTION["workflowId"]


def php_activity(kind: str, **activity: object) -> dict:
    return {
        "time": 1437447260.1234,
        "type": kind,
        "data": {
            "workflow": {"workflowId": WORKFLOW_ID, "runId": RUN_ID},
            "activity": {
                "activityId": "ValidateAssetStep",
                "activityType": {"name": "ValidateAsset", "version": "v2"},
                **activity,
            },
        },
    }


def parse(document: object, fallback: float = 99.0):
    return parse_output_message(json.dumps(document), fallback)


def test_workflow_scheduled_carries_job_run_and_workflow():
    message = parse(WORKFLOW_SCHEDULED)
    assert message.type is MessageType.WORKFLOW_SCHEDULED
    assert (message.job_id, message.run_id, message.workflow_id) == (
        "954e8de9dfa0d44d1e2f21eda6881e74",
        RUN_ID,
        WORKFLOW_ID,
    )
    assert message.workflow_type == ("Transcode", "1.0")
    assert message.input == WORKFLOW_SCHEDULED["input"]
    assert message.link == RunLink(RUN_ID, "954e8de9dfa0d44d1e2f21eda6881e74", WORKFLOW_ID)
    assert message.time == 1437447258.9809


def test_php_activity_message_has_type_object_and_no_job_id():
    message = parse(php_activity("ACTIVITY_STARTED", input={"input_asset": {}}))
    assert message.type is MessageType.ACTIVITY_STARTED
    assert message.job_id is None
    assert message.link is None
    assert message.run_key == RunKey("run", RUN_ID)
    assert (message.activity_id, message.activity_type, message.activity_version) == (
        "ValidateAssetStep",
        "ValidateAsset",
        "v2",
    )


def test_decider_activity_message_has_type_string_and_version_field():
    body = {
        "time": 1449000000.0,
        "type": "ACTIVITY_SCHEDULED",
        "data": {
            "workflow": {"workflowId": WORKFLOW_ID, "runId": RUN_ID},
            "activity": {
                "activityId": "TranscodeAssetStep",
                "activityType": "TranscodeAsset",
                "activityVersion": "v2",
            },
        },
    }
    message = parse(body)
    assert (message.type, message.activity_type, message.activity_version) == (
        MessageType.ACTIVITY_SCHEDULED,
        "TranscodeAsset",
        "v2",
    )


@pytest.mark.parametrize("kind", ["WORKFLOW_COMPLETED", "WORKFLOW_FAILED"])
def test_decider_workflow_messages_name_the_run(kind):
    body = {
        "time": 1449000000.0,
        "type": kind,
        "data": {"workflow": {"workflowId": WORKFLOW_ID, "runId": RUN_ID}},
    }
    message = parse(body)
    assert message.type is MessageType(kind)
    assert message.run_key == RunKey("run", RUN_ID)


def test_progress_result_gives_progress_and_detail():
    message = parse(
        php_activity("ACTIVITY_PROGRESS", result={"duration": 61.5, "done": 30.75, "progress": 50})
    )
    assert message.progress == 50
    assert message.progress_detail == {"duration": 61.5, "done": 30.75}


def test_progress_above_100_is_clamped():
    message = parse(php_activity("ACTIVITY_PROGRESS", result={"duration": 1, "done": 1.01, "progress": 101}))
    assert message.progress == 100


def test_failed_result_gives_reason_and_details():
    message = parse(
        php_activity("ACTIVITY_FAILED", result={"reason": "TRANSCODE_FAIL", "details": "ffmpeg: 1"})
    )
    assert message.error is not None
    assert (message.error.reason, message.error.details) == ("TRANSCODE_FAIL", "ffmpeg: 1")


def test_completed_result_is_kept_as_any_json_value():
    for result in ({"streams": []}, [1, 2], "done", {}):
        message = parse(php_activity("ACTIVITY_COMPLETED", result=result))
        assert message.has_result
        assert message.result == result


def test_legacy_shape_merges_reason_details_and_progress_into_activity():
    failed = parse(php_activity("ACTIVITY_FAILED", reason="S3_OPS_FAILED", details="no such key"))
    assert failed.error is not None
    assert (failed.error.reason, failed.error.details) == ("S3_OPS_FAILED", "no such key")
    progress = parse(php_activity("ACTIVITY_PROGRESS", progress=42, duration=10, done=4.2))
    assert progress.progress == 42
    assert progress.progress_detail == {"duration": 10, "done": 4.2}


def test_type_matches_case_insensitively():
    message = parse(php_activity("activity_Completed", result={}))
    assert message.type is MessageType.ACTIVITY_COMPLETED


def test_message_with_only_workflow_id_is_attributed_by_workflow():
    body = php_activity("ACTIVITY_PROGRESS", result={"progress": 1})
    del body["data"]["workflow"]["runId"]
    assert parse(body).run_key == RunKey("workflow", WORKFLOW_ID)


def test_missing_time_falls_back_to_sent_timestamp():
    body = php_activity("ACTIVITY_STARTED")
    del body["time"]
    assert parse(body, fallback=1700000000.5).time == 1700000000.5


def test_a_time_past_year_9999_is_no_time_and_falls_back_to_sent_timestamp():
    """Milliseconds sent as seconds: the record keeps RFC 3339 dates, which end at year 9999."""
    body = {**WORKFLOW_SCHEDULED, "time": 1_764_500_000_123}
    assert parse_output_message(json.dumps(body), 1700000000.5).time == 1700000000.5
    assert parse({**php_activity("ACTIVITY_STARTED"), "time": 253_402_300_799}).time == 253_402_300_799


def test_utf8_bom_is_stripped():
    message = parse_output_message("\ufeff" + json.dumps(WORKFLOW_SCHEDULED), 0)
    assert message.type is MessageType.WORKFLOW_SCHEDULED


def test_sns_envelope_is_unwrapped():
    envelope = {
        "Type": "Notification",
        "MessageId": "e8f1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:cpe",
        "Message": json.dumps(WORKFLOW_SCHEDULED),
    }
    message = parse(envelope)
    assert message.job_id == WORKFLOW_SCHEDULED["jobId"]
    assert message.digest == parse(WORKFLOW_SCHEDULED).digest


def test_php_empty_array_reads_as_object():
    body = php_activity("ACTIVITY_PREPARING")
    body["data"]["activity"]["input"] = []
    scheduled = {**WORKFLOW_SCHEDULED, "input": [], "workflowType": []}
    assert parse(body).activity_id == "ValidateAssetStep"
    assert parse(scheduled).input == {}


def test_unknown_type_is_parsed_as_unknown_and_keeps_its_name():
    message = parse({"time": 1.0, "type": "ACTIVITY_HEARTBEAT", "data": {"workflow": {"runId": RUN_ID}}})
    assert message.type is MessageType.UNKNOWN
    assert message.raw_type == "ACTIVITY_HEARTBEAT"
    assert message.run_key == RunKey("run", RUN_ID)


def test_pre_cpe_job_message_is_unknown_but_names_its_job():
    message = parse({"time": 1.0, "type": "JOB_COMPLETED", "job_id": "j-1", "data": {"workflow": {}}})
    assert (message.type, message.job_id) == (MessageType.UNKNOWN, "j-1")


def test_duplicates_share_a_digest_and_different_messages_do_not():
    assert parse(WORKFLOW_SCHEDULED).digest == parse(json.loads(json.dumps(WORKFLOW_SCHEDULED))).digest
    assert parse(php_activity("ACTIVITY_STARTED")).digest != parse(php_activity("ACTIVITY_PREPARING")).digest


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", PoisonReason.NOT_JSON),
        ("", PoisonReason.NOT_JSON),
        (b"\xff\xfe", PoisonReason.NOT_JSON),
        ('{"type": "ACTIVITY_PROGRESS", "time": NaN}', PoisonReason.NON_FINITE_NUMBER),
        ('{"type": "ACTIVITY_PROGRESS", "x": Infinity}', PoisonReason.NON_FINITE_NUMBER),
        ('{"type": "ACTIVITY_PROGRESS", "time": 1' + "0" * 5000 + "}", PoisonReason.NON_FINITE_NUMBER),
        ('{"type": "ACTIVITY_PROGRESS", "time": 1e999}', PoisonReason.NON_FINITE_NUMBER),
        ("[1, 2]", PoisonReason.NOT_AN_OBJECT),
        ('"WORKFLOW_SCHEDULED"', PoisonReason.NOT_AN_OBJECT),
        ("{}", PoisonReason.NO_TYPE),
        ('{"type": ""}', PoisonReason.NO_TYPE),
        ('{"type": 7, "jobId": "j"}', PoisonReason.NO_TYPE),
        (
            '{"type": "ACTIVITY_STARTED", "data": {"workflow": {}, "activity": {"activityId": "a"}}}',
            PoisonReason.NO_IDENTIFIER,
        ),
        ('{"type": "WORKFLOW_SCHEDULED", "jobId": "j"}', PoisonReason.NO_IDENTIFIER),
        ('{"type": "WORKFLOW_SCHEDULED", "runId": "r"}', PoisonReason.INVALID_SHAPE),
        ('{"type": "ACTIVITY_STARTED", "data": "x"}', PoisonReason.INVALID_SHAPE),
        (
            '{"type": "ACTIVITY_STARTED", "data": {"workflow": {"runId": "r"}, "activity": {}}}',
            PoisonReason.INVALID_SHAPE,
        ),
        ('{"type": "MYSTERY"}', PoisonReason.NO_IDENTIFIER),
        # Found by the fuzzers: half a character (valid JSON, not Unicode); nesting that parses but
        # that no job record could be serialized with.
        ('{"type": "ACTIVITY_STARTED", "jobId": "j", "note": "\\ud800"}', PoisonReason.NOT_JSON),
        ('{"type": "X", "jobId": "j", "data": ' + "[" * 40 + "]" * 40 + "}", PoisonReason.LIMIT_EXCEEDED),
    ],
)
def test_poison_is_rejected_with_a_reason(body, reason):
    with pytest.raises(PoisonMessage) as caught:
        parse_output_message(body, 0)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_nesting_as_deep_as_a_probe_result_is_fine():
    result = {"format": {"tags": {"a": [{"b": [[1]]}]}}, "streams": [{"side_data_list": [{"x": 1}]}]}
    data = {"workflow": {"runId": "r"}, "activity": {"activityId": "a"}, "result": result}
    message = json.dumps({"type": "ACTIVITY_COMPLETED", "data": data})
    assert parse_output_message(message, 0).type.value == "ACTIVITY_COMPLETED"


def test_deeply_nested_json_is_poison_not_a_crash():
    body = '{"type": "X", "jobId": "j", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(PoisonMessage) as caught:
        parse_output_message(body, 0)
    assert caught.value.reason is PoisonReason.NOT_JSON


# ------------------------------------------------------------------- START_JOB and the CT payload


def test_start_job_envelope_matches_the_php_sdk():
    client = {"name": "ClientA", "queues": {"input": "https://q/in", "output": "https://q/out"}}
    envelope = StartJob(
        time=1437447258.9809,
        jobId="954e8de9dfa0d44d1e2f21eda6881e74",
        data={**INPUT_VIDEO1, "client": client},
    )
    wire = json.loads(envelope.model_dump_json(exclude_none=True))
    assert list(wire) == ["time", "type", "jobId", "data"]
    assert wire["type"] == "START_JOB"
    assert wire["data"]["client"] == client
    assert wire["data"]["output_asset"]["watermark"]["x"] == -20
    assert wire["data"]["workflow"]["executionStartToCloseTimeout"] == 2592000


def test_job_payload_accepts_one_output_or_a_list():
    single = JobPayload.model_validate(INPUT_VIDEO1)
    several = JobPayload.model_validate(
        {
            "input_asset": INPUT_VIDEO1["input_asset"],
            "output_assets": [
                {"type": "THUMB", "mode": "snapshot", "snapshot_sec": 5, "bucket": "b", "file": "/t.jpg"},
                {"type": "VIDEO", "preset": "hls600k-generic", "bucket": "b", "file": "/h/v.m3u8"},
            ],
        }
    )
    assert [o.preset for o in single.outputs()] == ["360p-4.3-generic"]
    assert [o.type for o in several.outputs()] == ["THUMB", "VIDEO"]
    assert count_outputs(INPUT_VIDEO1) == 1
    assert count_outputs({"output_assets": [{}, {}, {}]}) == 3
    assert count_outputs({"input_asset": {}}) == 0
    assert count_outputs("not a payload") == 0
