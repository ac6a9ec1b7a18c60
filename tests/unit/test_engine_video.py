"""A rendition made in spans (encoded apart, as the fan-out does) and joined by stream copy is the
rendition one pass makes: the same frames, keyframes, audio and HLS segments."""

from __future__ import annotations

import itertools
import re
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from engine import video
from engine.errors import ActivityError, Canceled, Reason
from engine.media import VideoPlan
from local import sample_media

NOOP = lambda *args: None  # noqa: E731


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """21 s with B-frames and a GOP (2.4 s) that is not the output's: spans start mid-GOP."""
    folder = tmp_path_factory.mktemp("video")
    return sample_media.video(
        folder / "in.mp4", seconds=21, size=(320, 240), preset="veryfast", keyframe_every=60
    )


def shape(path: Path) -> dict[str, Any]:
    """What a player sees: frames, keyframe times, audio samples, the video's time span."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyframes = [
            round(float(p.pts * p.time_base), 3)
            for p in container.demux(stream)
            if p.pts is not None and p.is_keyframe
        ]
    with av.open(str(path)) as container:
        times = [frame.pts * frame.time_base for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0)) if container.streams.audio else 0
    return {
        "frames": len(times),
        "unique": len(set(times)) == len(times),
        "keyframes": keyframes,
        "samples": samples,
        "first": float(times[0]),
        "last": float(times[-1]),
    }


def in_spans(source: Path, target: Path, plan: VideoPlan, span_seconds: float, work: Path) -> list[Path]:
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration / av.time_base)
        rate = video.output_rate(plan, stream)
    origin = video.origin_of(source)
    parts = video.spans(duration, rate, span_seconds)
    assert len(parts) >= 4
    encoded = [
        video.encode_video(
            source,
            work / f"span{span.index}.mp4",
            plan,
            rotation=0,
            span=span,
            origin=origin,
            progress=NOOP,
            check_cancel=NOOP,
        )
        for span in reversed(parts)  # in any order: each span stands alone
    ]
    audio = video.encode_audio(source, work / "audio.m4a", plan, origin=origin, check_cancel=NOOP)
    return video.package([e for e in reversed(encoded) if e is not None], audio, target, plan)


@pytest.mark.parametrize(
    "plan",
    [
        VideoPlan(width=160, height=120, encoder_preset="ultrafast"),
        VideoPlan(width=160, height=120, encoder_preset="ultrafast", frame_rate=Fraction(15)),
    ],
    ids=["same rate", "15 fps"],
)
def test_a_rendition_in_spans_equals_the_one_pass_rendition(source, tmp_path, plan):
    single, joined = tmp_path / "single.mp4", tmp_path / "joined.mp4"
    video.transcode_video(source, single, plan, rotation=0, progress=NOOP, check_cancel=NOOP)
    (tmp_path / "parts").mkdir()
    in_spans(source, joined, plan, span_seconds=4, work=tmp_path / "parts")
    expected, got = shape(single), shape(joined)
    assert got == expected and got["unique"]
    rate = plan.frame_rate or 25
    assert got["frames"] == 21 * rate
    assert got["keyframes"] == [round(2.0 * n, 3) for n in range(11)]  # every GOP, nothing more


def test_hls_in_spans_has_the_segments_of_the_one_pass_playlist(source, tmp_path):
    plan = VideoPlan(width=160, height=120, encoder_preset="ultrafast", hls=True)
    (tmp_path / "single").mkdir(), (tmp_path / "joined").mkdir(), (tmp_path / "parts").mkdir()
    single = video.transcode_video(
        source, tmp_path / "single" / "v.m3u8", plan, rotation=0, progress=NOOP, check_cancel=NOOP
    )
    joined = in_spans(source, tmp_path / "joined" / "v.m3u8", plan, span_seconds=6, work=tmp_path / "parts")
    assert [p.name for p in joined] == [p.name for p in single]

    def durations(playlist: Path) -> list[str]:
        return re.findall(r"#EXTINF:([\d.]+),", playlist.read_text())

    assert durations(joined[0]) == durations(single[0]) and len(durations(single[0])) == 4
    assert shape(joined[0])["frames"] == shape(single[0])["frames"] == 21 * 25


def test_spans_fall_on_the_gop_grid_and_a_short_last_span_is_merged():
    parts = video.spans(20.5, Fraction(25), 4)
    assert [(p.start, p.end) for p in parts] == [
        (0, 4),
        (4, 8),
        (8, 12),
        (12, 16),
        (16, None),
    ]  # 20-21 merged
    ntsc = video.spans(20.0, Fraction(30000, 1001), 6)
    assert ntsc[1].start == Fraction(3 * 60 * 1001, 30000)  # three GOPs of 60 frames: 6.006 s
    assert video.spans(3.0, Fraction(25), 60) == [video.Span(0, Fraction(0), None)]


def test_the_join_fetches_each_span_when_its_turn_comes_and_holds_one_at_a_time(source, tmp_path):
    plan = VideoPlan(width=160, height=120, encoder_preset="ultrafast")
    (tmp_path / "made").mkdir(), (tmp_path / "join").mkdir()
    origin = video.origin_of(source)
    with av.open(str(source)) as container:
        duration = float(container.duration / av.time_base)
    made = [
        video.encode_video(
            source,
            tmp_path / "made" / f"span{s.index}.mp4",
            plan,
            rotation=0,
            span=s,
            origin=origin,
            progress=NOOP,
            check_cancel=NOOP,
        )
        for s in video.spans(duration, Fraction(25), 4)
    ]
    assert all(m is not None and m.parameters for m in made)
    wanted = [
        video.EncodedVideo(tmp_path / "join" / m.path.name, m.first_frame, m.frames, m.parameters)
        for m in made
        if m
    ]
    on_disk: list[int] = []

    def fetch(span: video.EncodedVideo) -> Path:  # as the join fetches from the work bucket
        if not span.path.exists():
            span.path.write_bytes((tmp_path / "made" / span.path.name).read_bytes())
        on_disk.append(len(list((tmp_path / "join").iterdir())))
        return span.path

    target = tmp_path / "joined.mp4"
    video.package(wanted, None, target, plan, fetch=fetch, discard_read=True)
    assert max(on_disk) == 1 and not list((tmp_path / "join").iterdir())  # each removed once read
    assert shape(target)["frames"] == 21 * 25
    different = [
        *wanted[:1],
        video.EncodedVideo(wanted[1].path, wanted[1].first_frame, wanted[1].frames, "other"),
    ]
    with pytest.raises(ActivityError, match="encoded differently"):
        video.package(different, None, tmp_path / "never.mp4", plan, fetch=fetch)


def _rendition_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rendition-")]


def test_renditions_of_one_pass_fail_or_stop_together_and_leave_no_thread(source, tmp_path):
    """Each rendition encodes in a thread of its own: an encoder that fails is the pass's failure
    (named, not a hang), and a cancel while decoding stops every rendition."""
    good, bad = VideoPlan(160, 120), VideoPlan(160, 120, video_codec="no-such-encoder")
    with pytest.raises(ActivityError, match="no-such-encoder") as failed:
        video.encode_videos(
            source,
            [(tmp_path / "bad.mp4", bad), (tmp_path / "good.mp4", good)],  # the others still at work
            rotation=0,
            progress=NOOP,
            check_cancel=NOOP,
        )
    assert failed.value.reason is Reason.INVALID_OUTPUT_SPEC
    assert _rendition_threads() == []
    decoded: list[float] = []

    def cancel_after_a_second() -> None:
        if len(decoded) > 25:
            raise Canceled()

    with pytest.raises(Canceled):
        video.encode_videos(
            source,
            [(tmp_path / "a.mp4", good), (tmp_path / "b.mp4", VideoPlan(80, 60))],
            rotation=0,
            progress=decoded.append,
            check_cancel=cancel_after_a_second,
        )
    assert _rendition_threads() == []
    assert len(decoded) < 21 * 25  # stopped early, not after the whole input


def test_a_variable_frame_rate_input_becomes_a_constant_rate_rendition(tmp_path):
    """Frames 16 to 100 ms apart (phones): each lands on the output's frame grid (duplicated where
    the input waited), none on a timestamp another took."""
    source = sample_media.variable_rate_video(tmp_path / "vfr.mp4", seconds=3)
    (target,) = video.transcode_video(
        source, tmp_path / "out.mp4", VideoPlan(160, 120), rotation=0, progress=NOOP, check_cancel=NOOP
    )
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        times = [frame.pts * frame.time_base for frame in container.decode(stream)]
        rate = stream.average_rate
    assert len(times) == len(set(times)) and rate == Fraction(60)
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert gaps == {Fraction(1, 60)}
    assert abs(float(times[-1]) - 3) < 0.2


def test_x264_runs_frame_threaded_as_the_ffmpeg_cli_runs_it(source, tmp_path):
    """x264 writes the settings it ran with into the stream (an SEI message): frame threads, not
    the sliced mode PyAV's slice-threaded default puts it in."""
    encoded = video.encode_video(
        source,
        tmp_path / "out.mp4",
        VideoPlan(160, 120, encoder_preset="ultrafast"),
        rotation=0,
        progress=NOOP,
        check_cancel=NOOP,
    )
    assert encoded is not None
    settings = re.search(rb"x264 - core [^\x00]+", encoded.path.read_bytes())
    assert settings is not None, "no x264 settings in the stream"
    threads = re.search(rb" threads=([0-9]+) ", settings[0])
    assert threads is not None
    if int(threads[1]) < 2:
        pytest.skip("one CPU: x264 runs one thread, in neither mode")
    assert b" sliced_threads=0 " in settings[0]


def small_transcode(source: Path, target: Path, check_cancel: Any) -> list[Path]:
    return video.transcode_video(
        source, target, VideoPlan(160, 120), rotation=0, progress=NOOP, check_cancel=check_cancel
    )


def test_the_audio_is_encoded_while_the_video_is(source, tmp_path):
    """Each thread's first check waits for the other's: run one after the other, they would never
    meet (the barrier would break)."""
    meet = threading.Barrier(2, timeout=60)
    seen: set[str] = set()

    def check_cancel() -> None:
        name = threading.current_thread().name.split("_")[0]
        if name not in seen:
            seen.add(name)
            meet.wait()

    (target,) = small_transcode(source, tmp_path / "out.mp4", check_cancel)
    assert seen == {"MainThread", "audio"}
    assert shape(target)["samples"] > 0


def test_a_failed_video_stops_its_audio_and_leaves_no_thread(source, tmp_path, monkeypatch):
    """The audio, held at its first check until the video has failed, then stopped at its next
    check by the failure, not run to its end (it would give up after a minute)."""
    video_failed, ended = threading.Event(), []

    def check_cancel() -> None:
        if threading.current_thread() is threading.main_thread():
            video_failed.set()
            raise Canceled()  # the video's first check
        video_failed.wait(timeout=60)

    def audio_that_waits_to_be_stopped(*_: Any, check_cancel: Any, **__: Any) -> None:
        try:
            check_cancel()
            for _ in range(600):
                check_cancel()
                time.sleep(0.1)
        except Canceled:
            ended.append("stopped")
            raise
        ended.append("ran on")

    monkeypatch.setattr(video, "encode_audio", audio_that_waits_to_be_stopped)
    with pytest.raises(Canceled):
        small_transcode(source, tmp_path / "out.mp4", check_cancel)
    assert ended == ["stopped"]
    assert [t.name for t in threading.enumerate() if t.name.startswith("audio")] == []
    assert not (tmp_path / "out.mp4").exists()


def test_a_failed_audio_fails_the_videos_next_check(source, tmp_path, monkeypatch):
    """The job fails with the audio's error as soon as the audio has failed, not after the video."""

    def audio_that_fails(*_: Any, **__: Any) -> None:
        raise ActivityError(Reason.TRANSCODE_FAIL, "the audio could not be decoded")

    monkeypatch.setattr(video, "encode_audio", audio_that_fails)

    def a_video_beside_it() -> None:
        plan = VideoPlan(160, 120)
        with video.audio_alongside(
            source, tmp_path / "a.m4a", plan, origin=0, check_cancel=NOOP
        ) as alongside:
            for _ in range(600):  # the video's checks, one every 0.1 s: a minute at most
                alongside.check_cancel()
                time.sleep(0.1)

    with pytest.raises(ActivityError, match="the audio could not be decoded"):
        a_video_beside_it()
    assert [t.name for t in threading.enumerate() if t.name.startswith("audio")] == []
