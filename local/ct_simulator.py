"""Message streams as a CPE/CT stack emits them, for tests, benchmarks and the replay command.

A :class:`CtRun` describes one run (outputs, transfer and progress bursts, where it fails, whether
the Decider's messages reach the queue, which message shapes the stack uses); :func:`run_messages`
turns it into the exact bodies, in the order the stack sends them, following
``docs/protocol.md``: ValidateAsset then one TranscodeAsset per output.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from functions.jobs.protocol import MessageType, activity_message, workflow_ended, workflow_scheduled

FailKind = Literal["FAILED", "TIMEOUT"]


@dataclass(frozen=True)
class Transcode:
    preparing: int = 1
    progress: tuple[int, ...] = (10, 50, 90)
    finishing: int = 1


@dataclass(frozen=True)
class CtRun:
    job_id: str
    run_id: str
    workflow_id: str
    start: float = 1_700_000_000.0
    client_name: str = "ClientA"
    validate_preparing: int = 1
    transcodes: tuple[Transcode, ...] = (Transcode(),)
    output_list: bool = False  # ``output_assets`` (a list) instead of ``output_asset``
    decider_messages: bool = False  # ACTIVITY_SCHEDULED and WORKFLOW_* reach the queue
    decider_style_types: bool = False  # activityType as a string plus activityVersion
    legacy_fields: bool = False  # pre-394c7b8: reason/details/progress merged into data.activity
    fail_at: int | None = None  # index into the activity steps (0 = ValidateAsset) that fails
    fail_kind: FailKind = "FAILED"
    probe_padding: int = 0  # extra bytes in the ffprobe result (big probes)
    step_seconds: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return 1 + len(self.transcodes)

    def job_input(self) -> dict[str, Any]:
        return job_input(
            self.job_id, len(self.transcodes), as_list=self.output_list, client_name=self.client_name
        )


def job_input(
    job_id: str,
    outputs: int = 1,
    *,
    as_list: bool = False,
    client_name: str = "ClientA",
    bucket: str = "site-media",
) -> dict[str, Any]:
    """A START_JOB ``data`` as the PHP SDK sends it: ``output_asset``, or ``output_assets`` when
    ``as_list`` (or several outputs), and the injected ``client``."""
    specs = [
        {"type": "VIDEO", "bucket": bucket, "file": f"/output/{job_id}/{i}.mp4", "preset": "720p-generic"}
        for i in range(outputs)
    ]
    data: dict[str, Any] = {
        "workflow": {
            "name": "Transcode",
            "version": "1.0",
            "taskList": "basic_transcode",
            "domain": "SADomain",
        },
        "input_asset": {"type": "VIDEO", "bucket": bucket, "file": f"/input/{job_id}.mp4"},
        "client": {
            "name": client_name,
            "queues": {
                "input": "https://sqs.us-east-1.amazonaws.com/123456789012/ct-input",
                "output": "https://sqs.us-east-1.amazonaws.com/123456789012/ct-output",
            },
        },
    }
    if as_list or outputs != 1:
        data["output_assets"] = specs
    else:
        data["output_asset"] = specs[0]
    return data


def ffprobe_result(
    width: int = 1280, height: int = 720, duration: float = 61.5, padding: int = 0
) -> dict[str, Any]:
    """An ffprobe ``-show_format -show_streams`` document as CT returns it (plus ``mime``/``type``)."""
    probe: dict[str, Any] = {
        "streams": [
            {
                "index": 0,
                "codec_name": "h264",
                "codec_long_name": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
                "profile": "High",
                "codec_type": "video",
                "codec_tag_string": "avc1",
                "width": width,
                "height": height,
                "coded_width": width,
                "coded_height": height,
                "has_b_frames": 2,
                "pix_fmt": "yuv420p",
                "level": 31,
                "r_frame_rate": "30000/1001",
                "avg_frame_rate": "30000/1001",
                "time_base": "1/30000",
                "duration": f"{duration:.6f}",
                "bit_rate": "2500000",
                "nb_frames": str(int(duration * 29.97)),
                "disposition": {"default": 1},
                "tags": {"language": "und", "handler_name": "VideoHandler"},
            },
            {
                "index": 1,
                "codec_name": "aac",
                "codec_type": "audio",
                "sample_fmt": "fltp",
                "sample_rate": "48000",
                "channels": 2,
                "channel_layout": "stereo",
                "duration": f"{duration:.6f}",
                "bit_rate": "128000",
                "disposition": {"default": 1},
                "tags": {"language": "eng"},
            },
        ],
        "format": {
            "filename": "/tmp/CloudTranscode/input/video.mp4",  # noqa: S108 - a path CT reports
            "nb_streams": 2,
            "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
            "format_long_name": "QuickTime / MOV",
            "duration": f"{duration:.6f}",
            "size": "19531250",
            "bit_rate": "2628000",
            "probe_score": 100,
            "tags": {"major_brand": "isom", "encoder": "Lavf60.3.100"},
        },
        "mime": "video/mp4",
        "type": "video",
    }
    if padding:
        # Real big probes come from long tag lists and side data; spread the padding the same way.
        probe["format"]["tags"].update({f"comment_{i:04d}": "x" * 90 for i in range(padding // 100)})
    return probe


def run_messages(run: CtRun) -> list[dict[str, Any]]:
    """Every body the stack sends for ``run``, in sending order, with increasing ``time``."""
    clock = iter(run.start + run.step_seconds * i for i in range(10_000))
    ids = {"run_id": run.run_id, "workflow_id": run.workflow_id}
    messages: list[dict[str, Any]] = [
        workflow_scheduled(
            job_id=run.job_id,
            run_id=run.run_id,
            workflow_id=run.workflow_id,
            input=run.job_input(),
            time=next(clock),
        )
    ]

    def activity(kind: MessageType, step: int, **kwargs: Any) -> dict[str, Any]:
        name = "ValidateAsset" if step == 0 else "TranscodeAsset"
        activity_id = (
            "ValidateAssetStep"
            if step == 0
            else ("TranscodeAssetStep" if len(run.transcodes) == 1 else f"TranscodeAssetStep{step}")
        )
        decider = run.decider_style_types or kind is MessageType.ACTIVITY_SCHEDULED
        body = activity_message(
            kind,
            activity_id=activity_id,
            activity_type=name,
            time=next(clock),
            decider_style=decider,
            **ids,
            **kwargs,
        )
        if (
            run.legacy_fields
            and isinstance(kwargs.get("result"), dict)
            and kind is not MessageType.ACTIVITY_COMPLETED
        ):
            body["data"]["activity"].update(body["data"]["activity"].pop("result"))
        return body

    def fail(step: int) -> None:
        kind = MessageType.ACTIVITY_TIMEOUT if run.fail_kind == "TIMEOUT" else MessageType.ACTIVITY_FAILED
        reason = (
            "ACTIVITY_TIMEOUT"
            if run.fail_kind == "TIMEOUT"
            else ("TRANSCODE_FAIL" if step else "S3_OPS_FAILED")
        )
        messages.append(activity(kind, step, result={"reason": reason, "details": f"step {step} failed"}))
        if run.decider_messages:
            messages.append(workflow_ended(MessageType.WORKFLOW_FAILED, time=next(clock), **ids))

    for step in range(run.steps):
        if run.decider_messages:
            messages.append(activity(MessageType.ACTIVITY_SCHEDULED, step))
        messages.append(
            activity(
                MessageType.ACTIVITY_STARTED, step, input={"input_asset": run.job_input()["input_asset"]}
            )
        )
        if step == 0:
            messages += [activity(MessageType.ACTIVITY_PREPARING, 0) for _ in range(run.validate_preparing)]
            if run.fail_at == 0:
                fail(0)
                return messages
            messages.append(
                activity(MessageType.ACTIVITY_COMPLETED, 0, result=ffprobe_result(padding=run.probe_padding))
            )
            continue
        transcode = run.transcodes[step - 1]
        messages += [activity(MessageType.ACTIVITY_PREPARING, step) for _ in range(transcode.preparing)]
        for percent in transcode.progress:
            result = {"duration": 61.5, "done": round(61.5 * min(percent, 100) / 100, 2), "progress": percent}
            messages.append(activity(MessageType.ACTIVITY_PROGRESS, step, result=result))
        if run.fail_at == step:
            fail(step)
            return messages
        messages += [activity(MessageType.ACTIVITY_FINISHING, step) for _ in range(transcode.finishing)]
        messages.append(activity(MessageType.ACTIVITY_COMPLETED, step, result=ffprobe_result(854, 480)))
    if run.decider_messages:
        messages.append(workflow_ended(MessageType.WORKFLOW_COMPLETED, time=next(clock), **ids))
    return messages


def expected_status(run: CtRun) -> str:
    """The job status the settled rules give for ``run`` (one run per job, default completion rule)."""
    if run.fail_at is None:
        return "COMPLETED"
    if run.fail_kind == "TIMEOUT" and not run.decider_messages:
        return "TIMED_OUT"
    return "FAILED"  # WORKFLOW_FAILED outranks TIMED_OUT (settled rule 2)


def random_run(rng: random.Random, index: int, start: float) -> CtRun:
    """A realistic run: mostly one or two outputs, ~25 messages, sometimes a failure."""
    outputs = rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
    transcodes = tuple(
        Transcode(
            preparing=rng.randint(1, 3),
            progress=tuple(sorted(rng.sample(range(5, 102), rng.randint(5, 11)))),
            finishing=rng.randint(1, 3),
        )
        for _ in range(outputs)
    )
    fail_at = rng.randrange(1 + outputs) if rng.random() < 0.1 else None
    return CtRun(
        job_id=f"{index:032x}",
        run_id=f"run-{index:08d}/{rng.getrandbits(64):016x}=",
        workflow_id=f"{int(start):x}{index:05x}.{rng.randrange(10**8):08d}",
        start=start,
        validate_preparing=rng.randint(0, 2),
        transcodes=transcodes,
        output_list=outputs > 1,
        decider_messages=rng.random() < 0.3,
        fail_at=fail_at,
        fail_kind=rng.choice(["FAILED", "FAILED", "TIMEOUT"]),
        step_seconds=rng.uniform(0.5, 10),
    )


def interleave(
    runs: list[list[dict[str, Any]]], concurrency: int, rng: random.Random, start: float
) -> list[dict[str, Any]]:
    """Merge runs' messages as a busy stack sends them: about ``concurrency`` runs in flight, each
    run's messages in order. Times are rewritten to the sending order (0.1 s apart)."""
    pending = [list(reversed(messages)) for messages in runs]
    waiting = list(reversed(range(len(pending))))
    active: list[int] = []
    stream: list[dict[str, Any]] = []
    while waiting or active:
        while waiting and len(active) < concurrency:
            active.append(waiting.pop())
        slot = rng.randrange(len(active))
        queue = pending[active[slot]]
        body = dict(queue.pop())
        body["time"] = round(start + 0.1 * len(stream), 3)
        stream.append(body)
        if not queue:
            active.pop(slot)
    return stream


def disturb(
    stream: list[dict[str, Any]], rng: random.Random, duplicates: float = 0.1, displacement: int = 20
) -> list[dict[str, Any]]:
    """What SQS standard queues do to a stream: ``duplicates`` of the messages delivered twice, and
    every message moved by up to ``displacement`` positions."""
    copies = [m for m in stream for _ in range(2 if rng.random() < duplicates else 1)]
    keyed = sorted(
        ((i + rng.uniform(0, displacement), m) for i, m in enumerate(copies)), key=lambda pair: pair[0]
    )
    return [m for _, m in keyed]
