"""The engine's media operations on media generated here, checked by decoding what they produce."""

from __future__ import annotations

import io
import math
import os
import re
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from engine import media, video
from engine.errors import ActivityError, Canceled, Reason
from engine.presets import PRESETS, preset
from engine.probe import probe
from local import sample_media

SECONDS = 2.0
NOOP = lambda *_: None  # noqa: E731


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    return {
        "video": sample_media.video(root / "video.mp4", seconds=SECONDS, size=(320, 240)),
        "portrait": sample_media.video(root / "portrait.mp4", seconds=1, size=(320, 240), rotation=90),
        "audio": sample_media.audio_only(root / "audio.m4a", seconds=SECONDS),
        "image": sample_media.image(root / "image.jpg", size=(640, 480)),
        "corrupt": sample_media.corrupt(root / "corrupt.mp4"),
    }


def decoded(path: Path) -> dict[str, Any]:
    """What a player sees: codecs, sizes, frame counts, durations (decoding everything)."""
    with av.open(str(path)) as container:
        duration = container.duration / av.time_base if container.duration is not None else None
        summary: dict[str, Any] = {"format": container.format.name, "duration": duration}
        if container.streams.video:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            summary.update(
                video=stream.codec_context.name,
                width=frames[0].width,
                height=frames[0].height,
                frames=len(frames),
                rotation=frames[0].rotation,
            )
            container.seek(0)
        if container.streams.audio:
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            summary.update(
                audio=stream.codec_context.name, audio_seconds=samples / stream.codec_context.sample_rate
            )
    return summary


# ------------------------------------------------------------------------------------- probing


def test_the_probe_has_ffprobes_fields_and_types(samples):
    document = probe(str(samples["video"]), name="video.mp4", size=samples["video"].stat().st_size)
    video, audio = document["streams"]
    assert (video["codec_type"], video["codec_name"], video["width"], video["height"]) == (
        "video",
        "h264",
        320,
        240,
    )
    assert video["r_frame_rate"] == "25/1" and video["avg_frame_rate"] == "25/1"
    assert (audio["codec_type"], audio["codec_name"], audio["sample_rate"], audio["channels"]) == (
        "audio",
        "aac",
        "44100",
        2,
    )
    assert float(document["format"]["duration"]) == pytest.approx(SECONDS, abs=0.1)
    assert re.fullmatch(r"\d+\.\d{6}", document["format"]["duration"])  # ffprobe writes decimals as strings
    assert int(document["format"]["bit_rate"]) > 0 and document["format"]["size"] == str(
        samples["video"].stat().st_size
    )
    assert (document["mime"], document["type"]) == ("video/mp4", "video")


def test_the_probe_reports_rotation_as_ffprobe_does(samples):
    (video, _) = probe(str(samples["portrait"]), name="portrait.mp4")["streams"]
    assert video["side_data_list"] == [{"side_data_type": "Display Matrix", "rotation": 90}]


def test_a_picture_over_the_pixel_limit_is_refused_by_the_probe_without_being_decoded(tmp_path, samples):
    bomb = sample_media.pixel_bomb(tmp_path / "bomb.png", side=9000)  # 81 MP in 80 KB
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ActivityError) as refused:
        probe(str(bomb), name="bomb.png", max_pixels=8192 * 8192)
    assert refused.value.reason is Reason.INPUT_TOO_LARGE and "67108864 pixels" in refused.value.details
    (stream,) = probe(str(bomb), name="bomb.png")["streams"]  # without a limit, FFmpeg decodes it
    assert (stream["width"], stream["height"]) == (9000, 9000)
    # Pictures within the limit probe as before.
    (video, _) = probe(str(samples["video"]), name="v.mp4", max_pixels=320 * 240)["streams"]
    assert (video["width"], video["height"]) == (320, 240)


def test_a_stream_cut_mid_gop_is_probed_further_and_not_taken_for_a_bomb(tmp_path):
    """An MPEG-TS whose first keyframe (and its SPS: the picture size) lies beyond the first MB."""
    path = tmp_path / "noise.ts"
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "10", "qp": "0", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for _ in range(20):  # noise at qp 0: about 0.5 MB a frame, 5 MB a GOP
            frame = av.VideoFrame(640, 360, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = path.read_bytes()
    cut = data[(len(data) // 8 // 188) * 188 :]  # on a TS packet, inside the first GOP
    (video,) = probe(io.BytesIO(cut), name="cut.ts", max_pixels=8192 * 8192)["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)


def test_audio_only_and_image_inputs_have_their_type(samples):
    assert {k: probe(str(samples["audio"]), name="a")[k] for k in ("mime", "type")} == {
        "mime": "audio/mp4",
        "type": "audio",
    }
    assert {k: probe(str(samples["image"]), name="i")[k] for k in ("mime", "type")} == {
        "mime": "image/jpeg",
        "type": "image",
    }


def test_a_file_that_is_not_media_is_refused_with_a_reason(samples, tmp_path):
    for path in (samples["corrupt"], tmp_path / "empty.mp4"):
        path.touch()
        with pytest.raises(ActivityError) as error:
            probe(str(path), name=path.name)
        assert error.value.reason is Reason.INPUT_NOT_MEDIA and path.name in error.value.details


# ------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("source", "box", "options", "expected"),
    [
        ((1920, 1080), (1280, 720), {}, (1280, 720)),
        ((1920, 1080), (640, 480), {}, (640, 360)),  # 16:9 kept inside a 4:3 box
        ((640, 360), (1280, 720), {}, (640, 360)),  # no upscaling
        ((640, 360), (1280, 720), {"allow_upscale": True}, (1280, 720)),
        ((1920, 1080), (640, 480), {"keep_ratio": False}, (640, 480)),
        ((1080, 1920), (1280, 720), {}, (404, 720)),  # portrait stays portrait
        ((721, 405), None, {}, (720, 404)),  # even sizes for 4:2:0
    ],
)
def test_output_sizes_keep_the_ratio_and_never_upscale_unless_asked(source, box, options, expected):
    assert media.fit(source, box, **options) == expected


def test_every_ct_preset_name_resolves_and_others_are_refused():
    ct_names = ["1080p", "720p", "480p", "480p-4.3", "480p-16.9", "360p-4.3", "360p-16.9", "320x240", "web"]
    ct_names += ["hls400k", "hls600k", "hls1M", "hls1.5M", "hls2M"]
    for name in ct_names:
        assert preset(f"{name}-generic") is PRESETS[name]
    assert all(preset(name).hls for name in ct_names if name.startswith("hls"))
    with pytest.raises(ActivityError) as error:
        preset("iphone4-generic")
    assert error.value.reason is Reason.INVALID_OUTPUT_SPEC


# ------------------------------------------------------------------------------------- video


def test_an_mp4_rendition_has_the_planned_size_codecs_and_every_frame_and_starts_fast(samples, tmp_path):
    target = tmp_path / "out.mp4"
    seen: list[float] = []
    plan = media.VideoPlan(width=160, height=120, video_bitrate=200_000, encoder_preset="ultrafast")
    video.transcode_video(samples["video"], target, plan, rotation=0, progress=seen.append, check_cancel=NOOP)
    result = decoded(target)
    assert (result["video"], result["width"], result["height"], result["audio"]) == ("h264", 160, 120, "aac")
    assert result["frames"] == int(SECONDS * 25)
    assert result["audio_seconds"] == pytest.approx(SECONDS, abs=0.05)
    data = target.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # fast start: playable while downloading
    assert seen == sorted(seen) and seen[-1] == pytest.approx(SECONDS - 0.04, abs=0.05)


def test_frame_rate_and_codecs_can_be_overridden(samples, tmp_path):
    target = tmp_path / "out.mp4"
    plan = media.VideoPlan(
        width=320, height=240, frame_rate=Fraction(10), audio_codec="libopus", encoder_preset="ultrafast"
    )
    video.transcode_video(samples["video"], target, plan, rotation=0, progress=NOOP, check_cancel=NOOP)
    result = decoded(target)
    assert result["frames"] == int(SECONDS * 10) and result["audio"] == "opus"


def test_hls_writes_a_vod_playlist_of_playable_segments_of_bounded_length(samples, tmp_path):
    source = sample_media.video(tmp_path / "long.mp4", seconds=14, size=(320, 240), audio=True)
    playlist = tmp_path / "video.m3u8"
    plan = media.VideoPlan(width=320, height=240, hls=True, encoder_preset="ultrafast")
    video.transcode_video(source, playlist, plan, rotation=0, progress=NOOP, check_cancel=NOOP)
    text = playlist.read_text()
    assert text.startswith("#EXTM3U") and "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text)]
    segments = re.findall(r"^(video_\d{5}\.ts)$", text, re.MULTILINE)
    assert len(segments) == len(durations) == math.ceil(14 / video.HLS_SEGMENT_SECONDS)
    assert all(d <= video.HLS_SEGMENT_SECONDS + 0.1 for d in durations) and sum(durations) == pytest.approx(
        14, abs=0.1
    )
    assert all((tmp_path / name).is_file() for name in segments)
    assert decoded(playlist)["frames"] == 14 * 25  # the playlist plays end to end


def test_a_rotated_phone_clip_comes_out_upright(samples, tmp_path):
    target = tmp_path / "upright.mp4"
    plan = media.VideoPlan(width=120, height=160, encoder_preset="ultrafast")
    video.transcode_video(samples["portrait"], target, plan, rotation=90, progress=NOOP, check_cancel=NOOP)
    result = decoded(target)
    assert (result["width"], result["height"], result["rotation"]) == (120, 160, 0)


def test_a_watermark_changes_only_its_corner(samples, tmp_path):
    mark = sample_media.image(tmp_path / "mark.png", size=(64, 64))
    plain, marked = tmp_path / "plain.mp4", tmp_path / "marked.mp4"
    for target, watermark in (
        (plain, None),
        (marked, media.Watermark(mark, 32, 32, opacity=1.0, x=-8, y=-8)),
    ):
        plan = media.VideoPlan(width=320, height=240, watermark=watermark, encoder_preset="ultrafast")
        video.transcode_video(samples["video"], target, plan, rotation=0, progress=NOOP, check_cancel=NOOP)

    def luma(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            plane = frame.planes[0]
            data = bytes(plane)
            return [
                data[row * plane.line_size : row * plane.line_size + frame.width]
                for row in range(frame.height)
            ]

    a, b = luma(plain), luma(marked)
    corner = [
        abs(x - y)
        for row in range(240 - 40, 240 - 8)
        for x, y in zip(a[row][320 - 40 : 320 - 8], b[row][320 - 40 : 320 - 8], strict=True)
    ]
    elsewhere = [abs(x - y) for row in range(0, 100) for x, y in zip(a[row][:100], b[row][:100], strict=True)]
    assert sum(corner) / len(corner) > 10 * (sum(elsewhere) / len(elsewhere) + 0.1)


def test_a_cancel_stops_the_transcode(samples, tmp_path):
    video_checks, decoded = [], []

    def cancel_on_the_videos_second_check() -> None:
        if threading.current_thread() is threading.main_thread():  # not the audio's thread
            video_checks.append(1)
            if len(video_checks) == 2:
                raise Canceled()

    plan = media.VideoPlan(width=160, height=120, encoder_preset="ultrafast")
    source = sample_media.video(tmp_path / "long.mp4", seconds=10)
    with pytest.raises(Canceled):
        video.transcode_video(
            source,
            tmp_path / "o.mp4",
            plan,
            rotation=0,
            progress=decoded.append,
            check_cancel=cancel_on_the_videos_second_check,
        )
    assert len(decoded) < 10 * 25  # stopped early, not after the whole input


def test_a_video_output_from_audio_is_a_conversion_error(samples, tmp_path):
    with pytest.raises(ActivityError) as error:
        video.transcode_video(
            samples["audio"],
            tmp_path / "o.mp4",
            media.VideoPlan(width=2, height=2),
            rotation=0,
            progress=NOOP,
            check_cancel=NOOP,
        )
    assert error.value.reason is Reason.CONVERSION_TYPE_ERROR


# ------------------------------------------------------------------------------------- stills and audio


def test_thumbnails_at_intervals_are_numbered_like_ffmpeg_and_scaled(samples, tmp_path):
    files = media.thumbnails(
        samples["video"],
        tmp_path / "thumb.jpg",
        at=None,
        every=0.5,
        size="-1:60",
        rotation=0,
        check_cancel=NOOP,
        progress=NOOP,
    )
    assert [f.name for f in files] == [f"thumb{n:06d}.jpg" for n in range(1, 5)]  # at 0, 0.5, 1, 1.5 s
    for file in files:
        result = decoded(file)
        assert (result["video"], result["width"], result["height"]) == ("mjpeg", 80, 60)


def test_a_snapshot_is_taken_at_its_second_or_at_the_end(samples, tmp_path):
    for second in (1, 30):
        (file,) = media.thumbnails(
            samples["video"],
            tmp_path / f"s{second}.jpg",
            at=[second],
            every=None,
            size=None,
            rotation=0,
            check_cancel=NOOP,
            progress=NOOP,
        )
        assert decoded(file)["width"] == 320
    assert (tmp_path / "s1.jpg").read_bytes() != (tmp_path / "s30.jpg").read_bytes()


@pytest.mark.parametrize("size", ["0:10", "abc", "10x10", "-1:0"])
def test_a_bad_thumbnail_size_is_refused(samples, tmp_path, size):
    with pytest.raises(ActivityError) as error:
        media.thumbnails(
            samples["video"],
            tmp_path / "t.jpg",
            at=[0],
            every=None,
            size=size,
            rotation=0,
            check_cancel=NOOP,
            progress=NOOP,
        )
    assert error.value.reason is Reason.INVALID_OUTPUT_SPEC


def test_images_are_cropped_resized_and_compressed(samples, tmp_path):
    small, large = tmp_path / "q20.jpg", tmp_path / "q95.jpg"
    for target, quality in ((small, 20), (large, 95)):
        media.convert_image(samples["image"], target, crop="400x300+10+10", resize="200x200", quality=quality)
        result = decoded(target)
        assert (result["width"], result["height"]) == (200, 150)  # 4:3 crop fitted in the box
    assert small.stat().st_size < large.stat().st_size
    media.convert_image(samples["image"], tmp_path / "o.png", crop=None, resize=None, quality=None)
    assert decoded(tmp_path / "o.png")["video"] == "png"


@pytest.mark.parametrize(
    ("extension", "codec"), [(".m4a", "aac"), (".mp3", "mp3float"), (".ogg", "opus"), (".wav", "pcm_s16le")]
)
def test_audio_is_extracted_into_the_format_the_name_asks_for(samples, tmp_path, extension, codec):
    target = tmp_path / f"sound{extension}"
    media.extract_audio(
        samples["video"], target, codec=None, bitrate=96_000, progress=NOOP, check_cancel=NOOP
    )
    result = decoded(target)
    assert result["audio"] in (codec, codec.replace("float", "")) and "video" not in result
    assert result["audio_seconds"] == pytest.approx(SECONDS, abs=0.1)


@pytest.mark.parametrize(
    ("seconds", "every", "expected"),
    [
        (3, 10.0, ["00:00:00.000 --> 00:00:03.000"]),  # an interval longer than the input: one tile
        (4, 3.0, ["00:00:00.000 --> 00:00:03.000", "00:00:03.000 --> 00:00:04.000"]),
        (0.3, None, ["00:00:00.000 --> 00:00:00.300"]),  # shorter than the default interval
    ],
)
def test_a_storyboard_has_a_tile_for_every_interval_begun_back_to_back_to_the_end(
    tmp_path, seconds, every, expected
):
    source = sample_media.video(tmp_path / "in.mp4", seconds=seconds, size=(320, 240))
    files = media.storyboard(
        source,
        tmp_path / "board.vtt",
        every=every,
        size=None,
        columns=4,
        duration=seconds,
        rotation=0,
        check_cancel=NOOP,
        progress=NOOP,
    )
    assert [f.name for f in files] == ["board.vtt", "board_00001.jpg"]
    cues = [line for line in files[0].read_text().splitlines() if "-->" in line]
    assert cues == expected


def test_a_storyboard_sheet_over_jpegs_limit_is_refused_with_its_reason(tmp_path):
    source = sample_media.video(tmp_path / "in.mp4", seconds=1, size=(320, 240))
    with pytest.raises(ActivityError, match="65535 pixels a side") as refused:
        media.storyboard(
            source,
            tmp_path / "board.vtt",
            every=1.0,
            size="3300:-2",
            columns=20,
            duration=1,
            rotation=0,
            check_cancel=NOOP,
            progress=NOOP,
        )
    assert refused.value.reason is Reason.INVALID_OUTPUT_SPEC
