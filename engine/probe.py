"""Probing: an ffprobe-compatible document (``-show_format -show_streams``, JSON writer) from
FFmpeg's libraries, read through any seekable file object, so a ranged reader fetches only the
bytes probing needs.

Field names and value types follow ffprobe's JSON output: durations, times and bit rates as
decimal strings, dimensions and counts as numbers, rates as ``"num/den"``. Rotation is reported as
ffprobe reports it, in ``side_data_list`` (``Display Matrix``, ``rotation`` in degrees)."""

from __future__ import annotations

import io
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import av.error

from engine.errors import ActivityError, Reason

# Enough to read the headers and a few packets of any common container, not the whole file.
PROBE_OPTIONS = {"probesize": "1000000", "analyzeduration": "2000000"}
# When a picture's size was not found within the first probe (an MPEG-TS cut mid-GOP puts its
# first SPS beyond it): a second look, further.
WIDE_PROBE_OPTIONS = {"probesize": "50000000", "analyzeduration": "30000000"}

_MIME_BY_FORMAT = {
    "mov": "video/quicktime",
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "3gp": "video/3gpp",
    "matroska": "video/x-matroska",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "flv": "video/x-flv",
    "mpegts": "video/mp2t",
    "mpeg": "video/mpeg",
    "ogg": "application/ogg",
    "mp3": "audio/mpeg",
    "wav": "audio/x-wav",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "image2": "image/jpeg",
    "jpeg_pipe": "image/jpeg",
    "png_pipe": "image/png",
    "webp_pipe": "image/webp",
    "gif": "image/gif",
    "bmp_pipe": "image/bmp",
    "tiff_pipe": "image/tiff",
    "hls": "application/vnd.apple.mpegurl",
}
_IMAGE_CODECS = frozenset({"mjpeg", "png", "webp", "gif", "bmp", "tiff"})


def _seconds(value: int | None, time_base: Fraction | None) -> str | None:
    if value is None or time_base is None:
        return None
    return f"{float(value * time_base):.6f}"


def _rate(value: Fraction | None) -> str:
    return f"{value.numerator}/{value.denominator}" if value else "0/0"


def _ratio(value: Fraction | None) -> str | None:
    return f"{value.numerator}:{value.denominator}" if value else None


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _stream(stream: Any, rotation: int | None) -> dict[str, Any]:
    codec = stream.codec_context
    if codec is None:  # a stream FFmpeg could not identify: listed, as ffprobe lists it
        return _without_none(
            {"index": stream.index, "codec_type": "data", "tags": dict(stream.metadata) or None}
        )
    common = {
        "index": stream.index,
        "codec_name": codec.name,
        "codec_long_name": codec.codec.long_name,
        "profile": stream.profile,
        "codec_type": stream.type,
        "codec_tag_string": codec.codec_tag or None,
        "time_base": _rate(stream.time_base),
        "start_time": _seconds(stream.start_time, stream.time_base),
        "duration_ts": stream.duration,
        "duration": _seconds(stream.duration, stream.time_base),
        "bit_rate": str(codec.bit_rate) if codec.bit_rate else None,
        "nb_frames": str(stream.frames) if stream.frames else None,
        "disposition": {"default": int(bool(stream.disposition & av.stream.Disposition.default))},
        "tags": dict(stream.metadata) or None,
    }
    if stream.type == "video":
        video = {
            "width": codec.width,
            "height": codec.height,
            "coded_width": codec.coded_width,
            "coded_height": codec.coded_height,
            "has_b_frames": int(codec.has_b_frames),
            "sample_aspect_ratio": _ratio(stream.sample_aspect_ratio),
            "display_aspect_ratio": _ratio(stream.display_aspect_ratio),
            "pix_fmt": codec.pix_fmt,
            "r_frame_rate": _rate(stream.guessed_rate or stream.base_rate),
            "avg_frame_rate": _rate(stream.average_rate),
        }
        if rotation:
            video["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": rotation}]
        return _without_none({**common, **video})
    if stream.type == "audio":
        audio = {
            "sample_fmt": codec.format.name if codec.format else None,
            "sample_rate": str(codec.sample_rate),
            "channels": codec.channels,
            "channel_layout": codec.layout.name if codec.layout else None,
            "bits_per_sample": 0,
        }
        return _without_none({**common, **audio})
    return _without_none(common)


def _open(source: IO[bytes] | io.RawIOBase | str, name: str, options: dict[str, str]) -> Any:
    try:
        return av.open(source, "r", options=options)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise ActivityError(
            Reason.INPUT_NOT_MEDIA, f"{name} is not a media file FFmpeg can read ({exc})"
        ) from exc


def _unsized(container: av.container.InputContainer) -> bool:
    """A stream whose codec, or a video whose picture size, the probe did not find."""
    return any(stream.codec_context is None for stream in container.streams) or any(
        not (stream.codec_context.width and stream.codec_context.height) for stream in container.streams.video
    )


def _within_pixels(container: av.container.InputContainer, name: str, max_pixels: int) -> None:
    """Refuse a video whose pictures are over ``max_pixels``: its size as probed, or, for a still
    image, none at all (its decoder refused a picture that big while probing: an image's size is
    in its header, so nothing else leaves it unknown). A video stream whose size is still unknown
    goes on: its decoder will say."""
    for stream in container.streams.video:
        pixels = stream.codec_context.width * stream.codec_context.height
        if not pixels and stream.codec_context.name in _IMAGE_CODECS:
            raise ActivityError(
                Reason.INPUT_TOO_LARGE,
                f"{name}: the decoder refused its picture (over this stack's {max_pixels} pixels)",
            )
        if pixels > max_pixels:
            size = f"{stream.codec_context.width}x{stream.codec_context.height}"
            raise ActivityError(
                Reason.INPUT_TOO_LARGE, f"{name}: {size} pictures are over this stack's {max_pixels} pixels"
            )


def _rotation(container: av.container.InputContainer) -> int | None:
    """The display rotation of the first video stream, as ffprobe gives it (degrees,
    counter-clockwise positive), from its first frame's display matrix."""
    if not container.streams.video:
        return None
    stream = container.streams.video[0]
    try:
        for frame in container.decode(stream):
            return round(frame.rotation) or None
    except av.error.FFmpegError:
        return None
    return None


def mime_type(format_name: str, streams: list[dict[str, Any]]) -> str:
    names = format_name.split(",")
    if names[0] == "mov" and "mp4" in names:
        # One demuxer for both: tell them apart as `file` does, by what they hold.
        return "video/mp4" if any(s["codec_type"] == "video" for s in streams) else "audio/mp4"
    for name in names:
        if name in _MIME_BY_FORMAT:
            return _MIME_BY_FORMAT[name]
    return "application/octet-stream"


def media_type(mime: str, streams: list[dict[str, Any]]) -> str:
    """``type`` as CT gives it: the part of the mime type before ``/``, or for an octet stream the
    streams' kind (video wins over audio)."""
    if mime != "application/octet-stream":
        return mime.split("/", 1)[0]
    kinds = {s["codec_type"] for s in streams}
    return "video" if "video" in kinds else "audio" if "audio" in kinds else "application"


def probe(
    source: IO[bytes] | io.RawIOBase | str,
    *,
    name: str,
    size: int | None = None,
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """The ffprobe document of ``source`` plus CT's ``mime`` and ``type``; raises ActivityError
    (INPUT_NOT_MEDIA) for anything FFmpeg cannot read as media. With ``max_pixels``, a picture
    bigger than that is never decoded (FFmpeg decodes a frame to probe some formats: a 250 KB PNG
    declaring 16000x16000 would take 256 MB) and the input is refused (INPUT_TOO_LARGE)."""
    limit = {"max_pixels": str(max_pixels)} if max_pixels else {}
    container = _open(source, name, PROBE_OPTIONS | limit)
    if _unsized(container):
        container.close()
        if not isinstance(source, str):
            source.seek(0)
        container = _open(source, name, WIDE_PROBE_OPTIONS | limit)
    with container:
        if not container.streams:
            raise ActivityError(Reason.INPUT_NOT_MEDIA, f"{name} holds no audio, video or image stream")
        if max_pixels:
            _within_pixels(container, name, max_pixels)  # before _rotation decodes a frame
        rotation = _rotation(container)
        streams = [
            _stream(stream, rotation if stream.type == "video" else None) for stream in container.streams
        ]
        format_name = container.format.name
        duration = container.duration
        document_format = _without_none(
            {
                "filename": name,
                "nb_streams": len(streams),
                "nb_programs": 0,
                "format_name": format_name,
                "format_long_name": container.format.long_name,
                "start_time": _seconds(container.start_time, Fraction(1, av.time_base)),
                "duration": _seconds(duration, Fraction(1, av.time_base)),
                "size": str(size) if size is not None else None,
                "bit_rate": str(container.bit_rate) if container.bit_rate else None,
                "probe_score": 100,
                "tags": dict(container.metadata) or None,
            }
        )
    if all(s["codec_type"] not in ("video", "audio") for s in streams):
        raise ActivityError(Reason.INPUT_NOT_MEDIA, f"{name} holds no audio or video stream")
    mime = mime_type(format_name, streams)
    if mime.startswith("video/") and all(s.get("codec_name") in _IMAGE_CODECS for s in streams):
        mime = "image/" + streams[0]["codec_name"].replace("mjpeg", "jpeg")
    return {"streams": streams, "format": document_format, "mime": mime, "type": media_type(mime, streams)}


def measured_package(document: dict[str, Any], files: list[Path]) -> dict[str, Any]:
    """The probe of an HLS playlist (``files[0]``; the package's other files after it) with the
    figures of what it plays, measured: each stream's ``bit_rate`` from its packets' bytes over
    the duration, the format's ``bit_rate`` that of the highest variant (its video and the audio),
    its ``size`` every file's bytes. FFmpeg's own figures for a playlist describe the text file."""
    sizes: dict[int, int] = defaultdict(int)
    try:
        with av.open(str(files[0])) as container:
            for packet in container.demux():
                if packet.size:
                    sizes[packet.stream.index] += packet.size
            seconds = float(document.get("format", {}).get("duration") or 0) or (
                (container.duration or 0) / av.time_base
            )
    except av.error.FFmpegError as exc:
        raise ActivityError(Reason.TRANSCODE_FAIL, f"the package cannot be read back ({exc})") from exc
    if seconds <= 0:
        return document
    streams = [dict(stream) for stream in document.get("streams", [])]
    for stream in streams:
        if stream.get("index") in sizes:
            stream["bit_rate"] = str(round(sizes[stream["index"]] * 8 / seconds))
    rates = {
        kind: [int(s["bit_rate"]) for s in streams if s.get("codec_type") == kind and "bit_rate" in s]
        for kind in ("video", "audio")
    }
    top = max(rates["video"], default=0) + max(rates["audio"], default=0)
    figures = {
        "size": str(sum(path.stat().st_size for path in files)),
        **({"bit_rate": str(top)} if top else {}),
    }
    return {**document, "streams": streams, "format": {**document.get("format", {}), **figures}}
