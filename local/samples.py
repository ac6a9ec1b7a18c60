"""The bundled sample output stream (``samples/cpe-output-stream.jsonl``): five jobs as a CPE/CT
stack reports them, delivered the way SQS does (interleaved, duplicated, reordered), with the
protocol's odd shapes and a little poison. ``python -m local.samples`` rewrites the file."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from local.ct_simulator import CtRun, Transcode, disturb, interleave, run_messages

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "cpe-output-stream.jsonl"
START = 1_764_300_000.0

RUNS = (
    # Two outputs, the Decider's messages reach the queue: COMPLETED.
    CtRun(
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "22JYNIVqvmTcYlP3DDytCuoUSlLV2zD6B0K3zBg/b8e1Q=",
        "6568a1f0c2d3e4.11111111",
        transcodes=(Transcode(2, (8, 35, 61, 88, 101), 2), Transcode(1, (20, 60, 100), 1)),
        output_list=True,
        decider_messages=True,
    ),
    # One output, no Decider messages: COMPLETED by the final activity (its WORKFLOW_SCHEDULED comes last).
    CtRun(
        "954e8de9dfa0d44d1e2f21eda6881e74",
        "9xTQm3sVnK2bWm0kq4v5NW8rKm1Hb6Gz2pQy7Lw3Yd8=",
        "6568a1f0c2d3e4.22222222",
        transcodes=(Transcode(1, (12, 47, 79, 96), 3),),
    ),
    # The transcode fails; the Decider then fails the workflow: FAILED with the activity's reason.
    CtRun(
        "a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3",
        "4Lm8Qp2Rs6Tu0Vw4Xy8Za2Bc6De0Fg4Hi8Jk2Lm6No0=",
        "6568a1f0c2d3e4.33333333",
        transcodes=(Transcode(1, (5, 30), 0),),
        fail_at=1,
        decider_messages=True,
    ),
    # An older stack: legacy merged fields and Decider-style types; ValidateAsset times out: TIMED_OUT.
    CtRun(
        "b4d6f8a0c2e4a6b8d0f2a4c6e8b0d2f4",
        "7Pq1Rs5Tu9Vw3Xy7Za1Bc5De9Fg3Hi7Jk1Lm5No9Pq3=",
        "6568a1f0c2d3e4.44444444",
        fail_at=0,
        fail_kind="TIMEOUT",
        legacy_fields=True,
        decider_style_types=True,
    ),
    # A 100 KB ffprobe result: kept beside the job item, the item stays small.
    CtRun(
        "c5e7a9b1d3f5b7c9e1a3c5e7a9b1d3f5",
        "1Ab5Cd9Ef3Gh7Ij1Kl5Mn9Op3Qr7St1Uv5Wx9Yz3Ab7=",
        "6568a1f0c2d3e4.55555555",
        probe_padding=100_000,
    ),
)


def sample_lines() -> list[str]:
    rng = random.Random(20261128)
    runs = [run_messages(run) for run in RUNS]
    late = runs[1].pop(0)  # job 2's WORKFLOW_SCHEDULED, delivered last
    stream = disturb(
        interleave(runs, concurrency=5, rng=rng, start=START), rng, duplicates=0.15, displacement=8
    )
    lines = [json.dumps(body, separators=(",", ":")) for body in stream]
    heartbeat = {
        "time": START + 5,
        "type": "ACTIVITY_HEARTBEAT",
        "data": {"workflow": {"runId": RUNS[0].run_id}},
    }
    sns = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:cpe", "Message": lines[3]}
    lines[6:6] = [
        json.dumps(heartbeat),  # a type CPE never sent: recorded, not fatal
        json.dumps(sns),  # SNS to SQS without raw delivery
        "not json at all",  # poison: ends in the DLQ
        '{"type":"ACTIVITY_PROGRESS","time":NaN}',  # poison
    ]
    lines.insert(12, "\ufeff" + lines[12])  # a UTF-8 BOM
    late["time"] = START  # sent first, delivered last
    lines.append(json.dumps(late, separators=(",", ":")))
    return lines


def main() -> None:
    SAMPLE.parent.mkdir(exist_ok=True)
    SAMPLE.write_text("\n".join(sample_lines()) + "\n", encoding="utf-8")
    print(f"wrote {SAMPLE}", file=sys.stderr)


if __name__ == "__main__":
    main()
