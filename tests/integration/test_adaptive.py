"""ADAPTIVE and STORYBOARD outputs (this project's extension of CT's output types) against moto:
real work on generated media, the package read back by independent parsers (``m3u8`` for HLS,
``mpegdash`` for DASH) and by FFmpeg: every rendition decodes, keyframes are at the same times in
every rendition, each variant's BANDWIDTH covers its measured peak segment bitrate."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import boto3
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from engine import activities
from engine.activities import EngineOptions
from engine.fanout import FanoutOptions
from engine.reporting import RunReporter, new_run_id, new_workflow_id
from engine.storage import Storage
from engine.workflow import run_job
from functions.messaging.memory import MemoryQueue
from local import sample_media
from tests.integration.conftest import REGION
from tests.integration.test_engine import BUCKET, job

pytestmark = pytest.mark.integration
SECONDS = 14
RATE = 25
# B-frames (ultrafast has none): their negative decode times must not shift a rendition's timeline.
WITH_B_FRAMES = EngineOptions(encoder_preset="veryfast")
AAC_FRAME = 1024 / 44_100
STORYBOARD = {
    "type": "STORYBOARD",
    "bucket": BUCKET,
    "file": "/out/board/board.vtt",
    "intervals": 2,
    "columns": 4,
}


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def produce(
    s3: Any, tmp_path: Path, *outputs: dict[str, Any], fanout: FanoutOptions | None = None
) -> dict[str, Any]:
    """Runs the job; the first output.s result (its ACTIVITY_COMPLETED)."""
    source = sample_media.video(tmp_path / "wide.mp4", seconds=SECONDS, size=(854, 480), rate=RATE)
    s3.upload_file(str(source), BUCKET, "uploads/wide.mp4")
    sent: list[dict[str, Any]] = []
    reporter = RunReporter("job-abr", new_run_id(), new_workflow_id(), sent.append, progress_interval=0)
    outcome = run_job(job("/uploads/wide.mp4", *outputs), reporter, Storage(s3), WITH_B_FRAMES, fanout)
    assert outcome.completed, sent[-1]
    return next(
        m["data"]["activity"]["result"]
        for m in sent
        if m["type"] == "ACTIVITY_COMPLETED"
        and m["data"]["activity"]["activityId"] in ("TranscodeAssetStep", "TranscodeAssetStep1")
    )


def download(s3: Any, prefix: str, folder: Path) -> list[str]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    for key in keys:
        s3.download_file(BUCKET, key, str(folder / Path(key).name))
    return [Path(key).name for key in keys]


def keyframe_times(playlist: Path) -> list[Fraction]:
    with av.open(str(playlist)) as container:
        stream = container.streams.video[0]
        return [
            packet.pts * stream.time_base
            for packet in container.demux(stream)
            if packet.pts is not None and packet.is_keyframe
        ]


def decoded_frames(playlist: Path) -> int:
    with av.open(str(playlist)) as container:
        return sum(1 for _ in container.decode(video=0))


def peak_bitrate(playlist: m3u8.M3U8, folder: Path) -> float:
    return max((folder / s.uri).stat().st_size * 8 / s.duration for s in playlist.segments)


def check_package(folder: Path, master_name: str, expected_rungs: list[str]) -> m3u8.M3U8:
    master = m3u8.load(str(folder / master_name))
    assert master.is_variant and len(master.playlists) == len(expected_rungs)
    (audio,) = [media for media in master.media if media.type == "AUDIO"]
    audio_playlist = m3u8.load(str(folder / audio.uri))
    audio_peak = peak_bitrate(audio_playlist, folder)
    keyframes = []
    heights = []
    for variant in master.playlists:
        info = variant.stream_info
        assert info.audio == audio.group_id
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", info.codecs)
        assert info.frame_rate == RATE and info.average_bandwidth <= info.bandwidth
        media = m3u8.load(str(folder / variant.uri))
        # BANDWIDTH: the peak segment bitrate of the variant and its audio (RFC 8216 4.3.4.2).
        assert info.bandwidth >= peak_bitrate(media, folder) + audio_peak
        width, height = info.resolution
        heights.append(height)
        assert decoded_frames(folder / variant.uri) == SECONDS * RATE  # every frame, every rung
        keyframes.append(keyframe_times(folder / variant.uri))
        with av.open(str(folder / variant.uri)) as container:
            assert (container.streams.video[0].width, container.streams.video[0].height) == (width, height)
    assert [f"{h}p" for h in sorted(heights, reverse=True)] == expected_rungs
    assert all(times == keyframes[0] for times in keyframes) and len(keyframes[0]) >= SECONDS // 2
    # Every rendition on one timeline: the video starts with the audio (its first packet is AAC's
    # priming, one frame before).
    starts = [first_time(folder / v.uri, "video") for v in master.playlists]
    audio_start = first_time(folder / audio.uri, "audio")
    assert len(set(starts)) == 1 and abs(starts[0] - audio_start - AAC_FRAME) < 0.002
    return master


def first_time(playlist: Path, kind: str) -> float:
    with av.open(str(playlist)) as container:
        stream = container.streams.get(**{kind: 0})[0]
        packet = next(p for p in container.demux(stream) if p.pts is not None)
        return float(packet.pts * stream.time_base)


def test_an_adaptive_package_has_a_ladder_from_the_input_aligned_renditions_and_true_figures(s3, tmp_path):
    result = produce(
        s3,
        tmp_path,
        {"type": "ADAPTIVE", "bucket": BUCKET, "file": "/out/abr/video.m3u8"},
        STORYBOARD,
    )
    folder = tmp_path / "abr"
    folder.mkdir()
    names = download(s3, "out/abr/", folder)
    # No rung above the 480p input; 480p, 360p and 240p from the table.
    master = check_package(folder, "video.m3u8", ["480p", "360p", "240p"])
    assert {"video.mpd", "video_480p_init.mp4", "video_audio.m3u8"} <= set(names)
    # The DASH manifest lists the same segments, its timeline as long as the media.
    mpd = MPEGDASHParser.parse(str(folder / "video.mpd"))
    video_set, audio_set = mpd.periods[0].adaptation_sets
    assert [r.height for r in video_set.representations] == [240, 360, 480]
    for representation in video_set.representations + audio_set.representations:
        template = representation.segment_templates[0]
        segments = template.segment_timelines[0].Ss
        assert (folder / template.initialization).exists()
        for number in range(len(segments)):
            assert (folder / template.media.replace("$Number%05d$", f"{number:05d}")).exists()
        assert abs(sum(s.d for s in segments) / template.timescale - SECONDS) < 0.1
    (channels,) = audio_set.representations[0].audio_channel_configurations
    assert channels.value == "2"
    # The result: the master playlist's probe, with the package's real figures.
    top = max(p.stream_info.average_bandwidth for p in master.playlists)
    assert 0.7 * top < int(result["format"]["bit_rate"]) <= top
    stored = sum(o["size"] for o in result["outputs"])
    assert int(result["format"]["size"]) == stored == sum((folder / name).stat().st_size for name in names)


def test_the_storyboards_cues_cover_the_input_and_point_inside_their_sprite(s3, tmp_path):
    produce(
        s3,
        tmp_path,
        STORYBOARD,
    )
    folder = tmp_path / "board"
    folder.mkdir()
    names = download(s3, "out/board/", folder)
    assert sorted(names) == ["board.vtt", "board_00001.jpg"]
    time = r"(\d\d):(\d\d):(\d\d)\.(\d{3})"
    cues = re.findall(
        rf"{time} --> {time}\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)", (folder / "board.vtt").read_text()
    )
    assert len(cues) == SECONDS // 2
    with av.open(str(folder / "board_00001.jpg")) as sprite:
        sheet = sprite.streams.video[0].codec_context
        size = (sheet.width, sheet.height)
    previous_end = 0.0
    for cue in cues:
        start = int(cue[0]) * 3600 + int(cue[1]) * 60 + int(cue[2]) + int(cue[3]) / 1000
        end = int(cue[4]) * 3600 + int(cue[5]) * 60 + int(cue[6]) + int(cue[7]) / 1000
        x, y, w, h = (int(v) for v in cue[9:])
        assert start == previous_end and end > start and cue[8] == "board_00001.jpg"
        assert x + w <= size[0] and y + h <= size[1] and w == 160
        previous_end = end
    assert previous_end == SECONDS


def test_a_long_input_packages_its_ladder_from_spans_with_the_same_keyframes_in_every_rung(s3, tmp_path):
    produce(
        s3,
        tmp_path,
        {"type": "ADAPTIVE", "bucket": BUCKET, "file": "/out/long/video.m3u8"},
        fanout=FanoutOptions(span_seconds=4, segment_after_seconds=6, work_bucket=BUCKET),
    )
    folder = tmp_path / "long"
    folder.mkdir()
    download(s3, "out/long/", folder)
    check_package(folder, "video.m3u8", ["480p", "360p", "240p"])
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="cpe-engine-work/").get("KeyCount") == 0


def test_an_explicit_ladder_in_mpeg_ts_for_old_players(s3, tmp_path):
    ladder = [{"height": 360, "video_bitrate": "500k"}, {"height": 240}, {"height": 720}]
    produce(
        s3,
        tmp_path,
        {"type": "ADAPTIVE", "bucket": BUCKET, "file": "/out/ts/v.m3u8", "ladder": ladder, "packaging": "ts"},
    )
    folder = tmp_path / "ts"
    folder.mkdir()
    names = download(s3, "out/ts/", folder)
    check_package(folder, "v.m3u8", ["360p", "240p"])  # 720p is above the input: dropped
    assert not any(name.endswith((".mpd", ".m4s")) for name in names)
    assert "v_360p_00000.ts" in names


def test_an_hls_video_outputs_probe_reports_its_streams_figures_not_the_playlists(s3, tmp_path):
    result = produce(s3, tmp_path, {"type": "VIDEO", "bucket": BUCKET, "file": "/out/hls/v.m3u8"})
    video = next(s for s in result["streams"] if s["codec_type"] == "video")
    audio = next(s for s in result["streams"] if s["codec_type"] == "audio")
    assert int(video["bit_rate"]) > 100_000 and 64_000 < int(audio["bit_rate"]) < 256_000
    assert int(result["format"]["bit_rate"]) == int(video["bit_rate"]) + int(audio["bit_rate"])
    assert int(result["format"]["size"]) == sum(o["size"] for o in result["outputs"])


def test_an_adaptive_output_must_name_its_master_playlist(s3, tmp_path):
    source = sample_media.video(tmp_path / "short.mp4", seconds=1, size=(320, 240))
    s3.upload_file(str(source), BUCKET, "uploads/short.mp4")
    sent: list[dict[str, Any]] = []
    reporter = RunReporter("job-bad", new_run_id(), new_workflow_id(), sent.append, progress_interval=0)
    output = {"type": "ADAPTIVE", "bucket": BUCKET, "file": "/out/bad/v.mp4"}
    outcome = run_job(job("/uploads/short.mp4", output), reporter, Storage(s3), WITH_B_FRAMES)
    assert outcome.error is not None and outcome.error.reason.value == "INVALID_OUTPUT_SPEC"
    assert "ends in .m3u8" in outcome.error.details
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="out/bad/").get("Contents")


def test_a_lost_send_of_the_manifests_task_is_made_again_by_the_redelivered_rendition(
    s3, tmp_path, monkeypatch
):
    """The rendition task that completes the set fails after recording its part and before its
    send: its redelivery finds the set complete and sends the manifests' task (else the output
    would never end)."""
    lost: list[str] = []
    send = MemoryQueue.send

    def losing_the_first_manifest(queue: MemoryQueue, body: str) -> None:
        if '"manifest"' in body and not lost:
            lost.append(body)
            raise RuntimeError("the send was lost")
        send(queue, body)

    monkeypatch.setattr(MemoryQueue, "send", losing_the_first_manifest)
    result = produce(
        s3,
        tmp_path,
        {"type": "ADAPTIVE", "bucket": BUCKET, "file": "/out/lost/video.m3u8", "ladder": [{"height": 240}]},
        fanout=FanoutOptions(span_seconds=4, segment_after_seconds=6, work_bucket=BUCKET),
    )
    assert lost and result["outputs"][0]["key"] == "out/lost/video.m3u8"


def test_a_result_lists_at_most_its_first_objects_and_counts_the_others(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(activities, "MAX_RESULT_OBJECTS", 4)
    thumbs = {
        "type": "THUMB",
        "bucket": BUCKET,
        "file": "/out/many/t.jpg",
        "mode": "intervals",
        "intervals": 2,
    }
    result = produce(s3, tmp_path, thumbs)
    assert [o["key"] for o in result["outputs"]] == [f"out/many/t{n:06d}.jpg" for n in range(1, 5)]
    assert result["outputsOmitted"] == SECONDS // 2 - 4
