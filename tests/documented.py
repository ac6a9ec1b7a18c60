"""The example messages of the protocol's documentation (cpe-protocol.md sections 2.2-2.4): one
CT run as the InputPoller, the Decider and the PHP activities report it."""

from __future__ import annotations

from typing import Any

from local.ct_simulator import ffprobe_result

WORKFLOW_SCHEDULED = {
    "time": 1437447258.9809,
    "type": "WORKFLOW_SCHEDULED",
    "jobId": "954e8de9dfa0d44d1e2f21eda6881e74",
    "runId": "22JYNIVqvmTcYlP3DDytCuoUSlLV2zD6B0K3zBg/b8e1Q=",
    "workflowId": "55adb45aa2d089.51761449",
    "workflowType": {"name": "Transcode", "version": "1.0"},
    "input": {
        "workflow": {
            "name": "Transcode",
            "version": "1.0",
            "taskList": "basic_transcode",
            "domain": "SADomain",
        },
        "input_asset": {"type": "VIDEO", "bucket": "cloudtranscode-dev", "file": "/input/video1.mp4"},
        "output_asset": {
            "type": "VIDEO",
            "bucket": "cloudtranscode-dev",
            "file": "/output/video1.mp4",
            "preset": "360p-4.3-generic",
        },
        "client": {
            "name": "ClientA",
            "queues": {
                "input": "https://sqs.us-east-1.amazonaws.com/441276146445/ct-in",
                "output": "https://sqs.us-east-1.amazonaws.com/441276146445/ct-out",
            },
        },
    },
}
EXECUTION = {
    "workflowId": "55adb45aa2d089.51761449",
    "runId": "22JYNIVqvmTcYlP3DDytCuoUSlLV2zD6B0K3zBg/b8e1Q=",
}


def activity(kind: str, step: str, name: str, time: float, **extra: Any) -> dict[str, Any]:
    return {
        "time": time,
        "type": kind,
        "data": {
            "workflow": EXECUTION,
            "activity": {"activityId": step, "activityType": {"name": name, "version": "v2"}, **extra},
        },
    }


DOCUMENTED_RUN = [
    WORKFLOW_SCHEDULED,
    {
        "time": 1437447259.0,
        "type": "ACTIVITY_SCHEDULED",
        "data": {
            "workflow": EXECUTION,
            "activity": {
                "activityId": "ValidateAssetStep",
                "activityType": "ValidateAsset",
                "activityVersion": "v2",
            },
        },
    },
    activity(
        "ACTIVITY_STARTED",
        "ValidateAssetStep",
        "ValidateAsset",
        1437447260.1234,
        input=WORKFLOW_SCHEDULED["input"],
    ),
    activity("ACTIVITY_PREPARING", "ValidateAssetStep", "ValidateAsset", 1437447261.0),
    activity(
        "ACTIVITY_COMPLETED", "ValidateAssetStep", "ValidateAsset", 1437447262.0, result=ffprobe_result()
    ),
    activity("ACTIVITY_STARTED", "TranscodeAssetStep", "TranscodeAsset", 1437447263.0),
    activity(
        "ACTIVITY_PROGRESS",
        "TranscodeAssetStep",
        "TranscodeAsset",
        1437447273.0,
        result={"duration": 61.5, "done": 30.75, "progress": 50},
    ),
    activity("ACTIVITY_FINISHING", "TranscodeAssetStep", "TranscodeAsset", 1437447283.0),
    activity(
        "ACTIVITY_COMPLETED",
        "TranscodeAssetStep",
        "TranscodeAsset",
        1437447284.0,
        result=ffprobe_result(480, 360),
    ),
    {"time": 1437447285.0, "type": "WORKFLOW_COMPLETED", "data": {"workflow": EXECUTION}},
]
DOCUMENTED_JOB = WORKFLOW_SCHEDULED["jobId"]

# cpe-protocol.md section 1.4: the sample input_video1.json (a START_JOB data without client).
INPUT_VIDEO1 = {
    "workflow": {
        "name": "Transcode",
        "version": "1.0",
        "taskList": "basic_transcode",
        "domain": "SADomain",
        "executionStartToCloseTimeout": 2592000,
    },
    "input_asset": {"type": "VIDEO", "bucket": "cloudtranscode-dev", "file": "/input/video1.mp4"},
    "output_asset": {
        "type": "VIDEO",
        "bucket": "cloudtranscode-dev",
        "file": "/output/video1.mp4",
        "s3_rrs": True,
        "s3_encrypt": True,
        "keep_ratio": False,
        "no_enlarge": False,
        "preset": "360p-4.3-generic",
        "watermark": {
            "bucket": "cloudtranscode-dev",
            "file": "/no-text-96px.png",
            "size": "96:96",
            "opacity": 0.2,
            "x": -20,
            "y": -20,
        },
    },
}
