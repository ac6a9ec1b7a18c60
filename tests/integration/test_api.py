"""The job API against moto: a job submitted over HTTP reaches the input queue as the PHP SDK
would send it, and the tracker's record of its run reads back through the API."""

from __future__ import annotations

import json
import re
from datetime import datetime

import boto3
import pytest

from functions.jobs.commands import php_json
from local.ct_simulator import CtRun, Transcode, run_messages
from tests.documented import INPUT_VIDEO1 as DOCUMENTED_INPUT_VIDEO1
from tests.integration.conftest import REGION, sqs_event

pytestmark = pytest.mark.integration

# cpe-protocol.md section 1.4, sample input_video1.json (the workflow block is the stack's default here).
INPUT_VIDEO1 = {key: value for key, value in DOCUMENTED_INPUT_VIDEO1.items() if key != "workflow"}


def received(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_submit_sends_start_job_byte_for_byte_like_the_php_sdk(invoke_api, input_queue):
    status, headers, _ = invoke_api(
        "POST", "/jobs", {**INPUT_VIDEO1, "jobId": "954e8de9dfa0d44d1e2f21eda6881e74"}
    )
    assert (status, headers["Location"]) == (202, "/prod/jobs/954e8de9dfa0d44d1e2f21eda6881e74")
    (body,) = received(input_queue)
    message = json.loads(body)
    # cpe-protocol.md section 1.1: the envelope, data.workflow, the payload, then data.client injected.
    expected = {
        "time": message["time"],
        "type": "START_JOB",
        "jobId": "954e8de9dfa0d44d1e2f21eda6881e74",
        "data": {
            "workflow": {
                "name": "Transcode",
                "version": "1.0",
                "taskList": "basic_transcode",
                "domain": "SADomain",
            },
            **INPUT_VIDEO1,
            "client": {
                "name": "ClientA",
                "queues": {
                    "input": input_queue,
                    "output": "https://sqs.us-east-1.amazonaws.com/123456789012/cpe-output",
                },
            },
        },
    }
    assert body == php_json(expected)  # the same bytes json_encode() writes
    assert re.fullmatch(r"\{\"time\":\d+\.\d+,\"type\":\"START_JOB\",\"jobId\":.*", body)
    assert '"file":"\\/input\\/video1.mp4"' in body
    assert isinstance(message["time"], float)


def test_an_idempotent_replay_sends_one_message(invoke_api, input_queue):
    first = invoke_api("POST", "/jobs", INPUT_VIDEO1, headers={"Idempotency-Key": "upload-1"})
    again = invoke_api("POST", "/jobs", INPUT_VIDEO1, headers={"Idempotency-Key": "upload-1"})
    assert (first[0], again[0], again[1]["Idempotent-Replayed"]) == (202, 202, "true")
    assert first[2]["jobId"] == again[2]["jobId"]
    assert len(received(input_queue)) == 1


def test_the_tracked_run_reads_back_through_the_api(invoke_api, invoke_tracker, input_queue):
    status, _, submitted = invoke_api("POST", "/jobs", {**INPUT_VIDEO1, "jobId": "site-job-7"})
    submitted_at = datetime.fromisoformat(submitted["createdAt"]).timestamp()
    assert status == 202
    (start_job,) = [json.loads(body) for body in received(input_queue)]
    # The stack answers: WORKFLOW_SCHEDULED carries the START_JOB data as its input.
    run = CtRun(
        "site-job-7", "run-7/Zz=", "wf-7", start=submitted_at + 1, transcodes=(Transcode(1, (30, 60, 90), 1),)
    )
    messages = run_messages(run)
    messages[0]["input"] = start_job["data"]
    assert invoke_tracker(sqs_event(messages[:5])) == {"batchItemFailures": []}
    status, _, running = invoke_api("GET", "/jobs/site-job-7")
    assert (status, running["status"], running["runId"], running["clientName"]) == (
        200,
        "RUNNING",
        "run-7/Zz=",
        "ClientA",
    )
    assert running["payload"] == submitted["payload"]
    _, _, listed = invoke_api("GET", "/jobs", query={"status": "RUNNING"})
    assert [j["jobId"] for j in listed["items"]] == ["site-job-7"]
    assert invoke_tracker(sqs_event(messages[5:], first_id=100)) == {"batchItemFailures": []}
    _, _, done = invoke_api("GET", "/jobs/site-job-7")
    assert (done["status"], done["progress"], done["outputs"][0]["file"]) == (
        "COMPLETED",
        100,
        "/output/video1.mp4",
    )
    _, _, completed = invoke_api("GET", "/jobs", query={"status": "COMPLETED"})
    _, _, running_now = invoke_api("GET", "/jobs", query={"status": "RUNNING"})
    assert ([j["jobId"] for j in completed["items"]], running_now["items"]) == (["site-job-7"], [])
    _, _, events = invoke_api("GET", "/jobs/site-job-7/events")
    assert events["items"][0]["event"] == "SUBMITTED"
    assert events["items"][-1]["event"] == "ACTIVITY_COMPLETED"


def test_list_pages_through_the_index(invoke_api):
    for n in range(7):
        assert invoke_api("POST", "/jobs", {**INPUT_VIDEO1, "jobId": f"job-{n}"})[0] == 202
    seen, token = [], None
    while True:
        query = {"limit": "3", **({"nextToken": token} if token else {})}
        status, _, page = invoke_api("GET", "/jobs", query=query)
        assert status == 200
        seen += [job["jobId"] for job in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == [f"job-{n}" for n in reversed(range(7))]


def test_cancel_sends_cancel_job(invoke_api, input_queue):
    invoke_api("POST", "/jobs", {**INPUT_VIDEO1, "jobId": "to-cancel"})
    received(input_queue)
    status, _, job = invoke_api("POST", "/jobs/to-cancel/cancel")
    assert (status, job["cancelRequested"]) == (202, True)
    (body,) = received(input_queue)
    assert json.loads(body)["type"] == "CANCEL_JOB"
