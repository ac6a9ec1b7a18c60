"""The media work, in-process with FFmpeg's libraries (PyAV): what every operation shares (opening
inputs, filter graphs, output sizes, bitrates) and thumbnails, images and audio; video renditions
are in engine.video. Each operation decodes once, filters with an FFmpeg filter graph (rotation,
crop, scale, frame rate, watermark) and encodes, reporting progress and checking for cancellation
as it goes. Nothing here knows about S3, SQS or CPE messages."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.filter

from engine.errors import ActivityError, Reason

Progress = Callable[[float], None]  # seconds of the input done
Source = Path | Callable[[], Any]  # a path, or a function opening a seekable file object
CheckCancel = Callable[[], None]  # raises Canceled


@dataclass(frozen=True)
class Watermark:
    path: Path
    width: int | None = None
    height: int | None = None
    opacity: float = 1.0
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class VideoPlan:
    width: int
    height: int
    video_codec: str = "libx264"
    audio_codec: str = "aac"
    video_bitrate: int | None = None
    audio_bitrate: int | None = 128_000
    frame_rate: Fraction | None = None  # None: the input's
    hls: bool = False
    watermark: Watermark | None = None
    encoder_preset: str = "medium"
    peak_ratio: float | None = None  # caps the video's bitrate at this multiple of its average


def even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def fit(
    source: tuple[int, int],
    box: tuple[int, int] | None,
    *,
    keep_ratio: bool = True,
    allow_upscale: bool = False,
) -> tuple[int, int]:
    """The output size: ``box`` (or the source's size), fitted to keep the source's aspect ratio,
    never larger than the source unless ``allow_upscale``, in even numbers (4:2:0 needs them)."""
    width, height = source
    if box is None:
        return even(width), even(height)
    box_width, box_height = box
    if not allow_upscale:
        box_width, box_height = min(box_width, width), min(box_height, height)
    if keep_ratio:
        scale = min(box_width / width, box_height / height)
        return even(width * scale), even(height * scale)
    return even(box_width), even(box_height)


def parse_size(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]{1,5})x([0-9]{1,5})", value.strip())
    if not match or int(match[1]) == 0 or int(match[2]) == 0:
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, f"size {value!r} is not WIDTHxHEIGHT")
    return int(match[1]), int(match[2])


def parse_bitrate(value: str | int | None) -> int | None:
    if value is None:
        return None
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kKmM]?)", str(value).strip())
    if not match:
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, f"bitrate {value!r} is not a number with k or M")
    return int(float(match[1]) * {"": 1, "k": 1000, "m": 1_000_000}[match[2].lower()])


def rotation_filters(rotation: int) -> list[tuple[str, str | None]]:
    """What the FFmpeg CLI does by default (autorotate): display the frames upright."""
    turns = (-rotation // 90) % 4  # display matrix rotation is counter-clockwise
    by_turns: dict[int, list[tuple[str, str | None]]] = {
        0: [],
        1: [("transpose", "clock")],
        2: [("hflip", None), ("vflip", None)],
        3: [("transpose", "cclock")],
    }
    return by_turns[turns]


class FilterGraph:
    """A linear filter graph from a decoded stream to a sink, plus an optional overlay input."""

    def __init__(
        self, stream: Any, filters: list[tuple[str, str | None]], watermark: Watermark | None = None
    ) -> None:
        self.graph = av.filter.Graph()
        node = self.graph.add_buffer(template=stream)
        self.source = node
        for name, args in filters:
            nxt = self.graph.add(name, args) if args is not None else self.graph.add(name)
            node.link_to(nxt)
            node = nxt
        if watermark is not None:
            # The movie filter's argument syntax: ':' and '\' escaped in the path.
            path = str(watermark.path).replace("\\", "\\\\").replace(":", "\\:")
            mark = self.graph.add("movie", f"filename={path}")
            chain = [("format", "rgba")]
            if watermark.width or watermark.height:
                chain.append(("scale", f"{watermark.width or -1}:{watermark.height or -1}"))
            if watermark.opacity < 1:
                chain.append(("colorchannelmixer", f"aa={watermark.opacity:.3f}"))
            for name, args in chain:
                nxt = self.graph.add(name, args)
                mark.link_to(nxt)
                mark = nxt
            x = f"{watermark.x}" if watermark.x >= 0 else f"main_w-overlay_w{watermark.x}"
            y = f"{watermark.y}" if watermark.y >= 0 else f"main_h-overlay_h{watermark.y}"
            overlay = self.graph.add("overlay", f"x={x}:y={y}:eof_action=repeat")
            node.link_to(overlay, 0, 0)
            mark.link_to(overlay, 0, 1)
            node = overlay
        self.sink = self.graph.add("buffersink")
        node.link_to(self.sink)
        self.graph.configure()

    def push(self, frame: Any) -> Iterator[Any]:
        self.source.push(frame)
        yield from self._drain()

    def flush(self) -> Iterator[Any]:
        self.source.push(None)
        yield from self._drain()

    def _drain(self) -> Iterator[Any]:
        while True:
            try:
                yield self.sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return


def open_input(source: Source) -> Any:
    """A media file to read: a path, or a function that opens a readable, seekable file object
    (a ranged reader over S3 or HTTP)."""
    try:
        return av.open(source() if callable(source) else str(source))
    except av.error.FFmpegError as exc:
        raise ActivityError(Reason.INPUT_NOT_MEDIA, f"the input cannot be read ({exc})") from exc


def transcode_failed(exc: Exception) -> ActivityError:
    return ActivityError(Reason.TRANSCODE_FAIL, f"FFmpeg failed: {exc}")


def audio_rate(codec: str, stream: Any) -> int:
    """Opus runs at 48 kHz only; other codecs keep the input's rate."""
    return 48_000 if codec == "libopus" else int(stream.codec_context.sample_rate or 44_100)


def _jpeg_encoder(width: int, height: int, qscale: int) -> Any:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    # A fixed quantizer, as ``-q:v`` gives the CLI (a per-frame quality PyAV cannot set).
    codec.qmin = codec.qmax = qscale
    return codec


def _write_image(frame: Any, target: Path, *, qscale: int = 4) -> None:
    """One frame as a still image, its format from ``target``'s extension."""
    extension = target.suffix.lower()
    if extension in (".jpg", ".jpeg"):
        frame = frame.reformat(format="yuvj420p")
        codec = _jpeg_encoder(frame.width, frame.height, qscale)
    elif extension == ".png":
        frame = frame.reformat(format="rgb24")
        codec = av.CodecContext.create("png", "w")
        codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, "rgb24"
        codec.time_base = Fraction(1, 25)
    else:
        raise ActivityError(
            Reason.INVALID_OUTPUT_SPEC, f"cannot write images as {extension or 'no extension'}"
        )
    frame.pts = 0
    data = b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
    target.write_bytes(data)


def scale_filter(size: str | None) -> list[tuple[str, str | None]]:
    """CT's THUMB ``size``: an FFmpeg ``scale=`` value such as ``-1:159``."""
    if size is None:
        return []
    if not re.fullmatch(r"-?[0-9]{1,5}:-?[0-9]{1,5}", size) or size.startswith("0") or ":0" in size:
        raise ActivityError(
            Reason.INVALID_OUTPUT_SPEC, f"size {size!r} is not an FFmpeg scale such as -1:159"
        )
    width, height = size.split(":")
    # -1 keeps the ratio; -2 also keeps it and rounds to even.
    return [
        ("scale", f"{'-2' if width.startswith('-') else width}:{'-2' if height.startswith('-') else height}")
    ]


def thumbnails(
    source: Path,
    target: Path,
    *,
    at: list[float] | None,
    every: float | None,
    size: str | None,
    rotation: int,
    check_cancel: CheckCancel,
    progress: Progress,
) -> list[Path]:
    """Snapshots at the times ``at`` (one file: ``target``), or one every ``every`` seconds (files
    ``<stem>000001<ext>``, numbered as FFmpeg's image2 muxer numbers them)."""
    written: list[Path] = []
    with open_input(source) as container:
        if not container.streams.video:
            raise ActivityError(Reason.CONVERSION_TYPE_ERROR, "thumbnails need an input with video")
        stream = container.streams.video[0]
        graph = FilterGraph(
            stream, [*rotation_filters(rotation), *scale_filter(size), ("format", "yuvj420p")]
        )
        wanted = sorted(at) if at else []
        next_time = wanted[0] if wanted else 0.0
        last: Any = None
        try:
            if at and wanted[0] > 0:
                container.seek(int(wanted[0] / stream.time_base), stream=stream, backward=True)
            for count, frame in enumerate(container.decode(stream)):
                if count % 32 == 0:
                    check_cancel()
                if frame.time is None:
                    continue
                progress(frame.time)
                for filtered in graph.push(frame):
                    last = filtered
                    if filtered.time is not None and filtered.time + 1e-6 >= next_time:
                        name = (
                            target
                            if at
                            else target.with_name(f"{target.stem}{len(written) + 1:06d}{target.suffix}")
                        )
                        _write_image(filtered, name, qscale=4 if at else 8)
                        written.append(name)
                        if at:
                            wanted.pop(0)
                            if not wanted:
                                return written
                            next_time = wanted[0]
                        else:
                            next_time += every or 1.0
        except av.error.FFmpegError as exc:
            raise transcode_failed(exc) from exc
        if at and not written and last is not None:
            # Past the end: the last frame, as a player paused at the end would show.
            _write_image(last, target)
            written.append(target)
    if not written:
        raise ActivityError(Reason.TRANSCODE_FAIL, "the input has no decodable video frame")
    return written


def convert_image(
    source: Path, target: Path, *, crop: str | None, resize: str | None, quality: int | None
) -> None:
    """CT's IMAGE: ``crop`` (``WxH+X+Y``), ``resize`` (``WxH``, fitted inside, ratio kept) and JPEG
    ``quality`` (1-100), in ImageMagick's terms."""
    filters: list[tuple[str, str | None]] = []
    if crop:
        match = re.fullmatch(r"([0-9]+)x([0-9]+)\+([0-9]+)\+([0-9]+)", crop.strip())
        if not match:
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, f"crop {crop!r} is not WxH+X+Y")
        filters.append(("crop", f"{match[1]}:{match[2]}:{match[3]}:{match[4]}:exact=1"))
    if resize:
        width, height = parse_size(resize)
        filters.append(("scale", f"{width}:{height}:force_original_aspect_ratio=decrease"))
    with open_input(source) as container:
        if not container.streams.video:
            raise ActivityError(Reason.CONVERSION_TYPE_ERROR, "an IMAGE output needs an image input")
        stream = container.streams.video[0]
        filters.append(("format", "rgb24"))
        graph = FilterGraph(stream, filters)
        try:
            for frame in container.decode(stream):
                for filtered in [*graph.push(frame), *graph.flush()]:
                    qscale = 2 + round((100 - (quality or 85)) * 29 / 99)
                    _write_image(filtered, target, qscale=qscale)
                    return
        except (av.error.FFmpegError, ValueError) as exc:
            raise transcode_failed(exc) from exc
    raise ActivityError(Reason.TRANSCODE_FAIL, "the image has no decodable frame")


_AUDIO_CODECS = {
    ".m4a": ("aac", "ipod"),
    ".aac": ("aac", "adts"),
    ".mp4": ("aac", "mp4"),
    ".mp3": ("libmp3lame", "mp3"),
    ".ogg": ("libopus", "ogg"),
    ".opus": ("libopus", "ogg"),
    ".flac": ("flac", "flac"),
    ".wav": ("pcm_s16le", "wav"),
}


def extract_audio(
    source: Path,
    target: Path,
    *,
    codec: str | None,
    bitrate: int | None,
    progress: Progress,
    check_cancel: CheckCancel,
) -> None:
    """The input's first audio stream, re-encoded for ``target``'s extension (AUDIO outputs: CT
    had the type but never an implementation)."""
    extension = target.suffix.lower()
    if extension not in _AUDIO_CODECS:
        raise ActivityError(
            Reason.INVALID_OUTPUT_SPEC, f"audio outputs end in one of {', '.join(sorted(_AUDIO_CODECS))}"
        )
    default_codec, container_format = _AUDIO_CODECS[extension]
    with open_input(source) as container:
        if not container.streams.audio:
            raise ActivityError(Reason.CONVERSION_TYPE_ERROR, "an AUDIO output needs an input with audio")
        stream = container.streams.audio[0]
        rate = audio_rate(codec or default_codec, stream)
        try:
            with av.open(str(target), "w", format=container_format) as out:
                audio_out: Any = out.add_stream(codec or default_codec, rate=rate)
                if bitrate and (codec or default_codec) not in ("flac", "pcm_s16le"):
                    audio_out.bit_rate = bitrate
                for count, frame in enumerate(container.decode(stream)):
                    if count % 256 == 0:
                        check_cancel()
                    if frame.time is not None:
                        progress(frame.time)
                    frame.pts = None
                    out.mux(audio_out.encode(frame))
                out.mux(audio_out.encode(None))
        except av.error.FFmpegError as exc:
            raise transcode_failed(exc) from exc


STORYBOARD_ROWS = 10
STORYBOARD_TILES = 100  # the default interval gives at most this many tiles (one sheet of 10x10)
JPEG_MAX_SIDE = 65_535


@dataclass(frozen=True)
class Tile:
    start: float
    sheet: Path
    x: int
    y: int
    width: int
    height: int


def storyboard(
    source: Path,
    target: Path,
    *,
    every: float | None,
    size: str | None,
    columns: int,
    duration: float,
    rotation: int,
    check_cancel: CheckCancel,
    progress: Progress,
) -> list[Path]:
    """A STORYBOARD output (this project's extension): a thumbnail every ``every`` seconds (by
    default, the interval giving at most ``STORYBOARD_TILES``), ``size`` as THUMB's (default
    ``160:-2``), laid out ``columns`` wide and ``STORYBOARD_ROWS`` high on JPEG sprite sheets
    ``<stem>_00001.jpg``..., and ``target``: a WebVTT track whose cues name each tile's sheet and
    rectangle (``sheet.jpg#xywh=x,y,w,h``), as players' scrub previews read them."""
    if target.suffix.lower() != ".vtt":
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "a STORYBOARD output's file is its .vtt track")
    interval = every or max(1.0, math.ceil(duration / STORYBOARD_TILES))
    if interval <= 0:
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "intervals must be a positive number of seconds")
    tiles: list[Tile] = []
    sheets: list[Path] = []
    last = 0.0
    with open_input(source) as container:
        if not container.streams.video:
            raise ActivityError(Reason.CONVERSION_TYPE_ERROR, "a storyboard needs an input with video")
        stream = container.streams.video[0]
        graph = FilterGraph(
            stream, [*rotation_filters(rotation), *scale_filter(size or "160:-2"), ("format", "yuvj420p")]
        )
        sprite: _Sprites | None = None
        starts: list[float] = []  # the slots of the frames in the graph, in order
        origin: float | None = None
        due = 0.0

        def lay_out(thumbs: Iterator[Any]) -> None:
            nonlocal sprite
            for thumb in thumbs:
                sprite = sprite or _Sprites(thumb, target, columns)
                tiles.append(sprite.add(thumb, len(tiles), starts.pop(0)))

        try:
            for count, frame in enumerate(container.decode(stream)):
                if count % 32 == 0:
                    check_cancel()
                if frame.time is None:
                    continue
                # Times from the first frame, as the video outputs count them (not the container's).
                origin = frame.time if origin is None else origin
                at = frame.time - origin
                last = max(last, at)
                progress(at)
                if at + 1e-6 >= due:  # the first frame at or after each slot's time shows the slot
                    slot = math.floor((at + 1e-6) / interval) * interval
                    starts.append(slot)
                    due = slot + interval
                    lay_out(graph.push(frame))
            lay_out(graph.flush())
            if sprite is not None:
                sheets = sprite.close()
        except av.error.FFmpegError as exc:
            raise transcode_failed(exc) from exc
    if not tiles:
        raise ActivityError(Reason.TRANSCODE_FAIL, "the input has no decodable video frame")
    end = max(duration, last) if max(duration, last) > tiles[-1].start else tiles[-1].start + interval
    cues = ["WEBVTT", ""]
    for tile, following in zip(tiles, [*tiles[1:], None], strict=True):
        stop = following.start if following else end
        cues += [
            f"{_vtt_time(tile.start)} --> {_vtt_time(stop)}",
            f"{tile.sheet.name}#xywh={tile.x},{tile.y},{tile.width},{tile.height}",
            "",
        ]
    target.write_text("\n".join(cues))
    return [target, *sheets]


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return (
        f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"
    )


class _Sprites:
    """Lays thumbnails out on sheets with FFmpeg's tile filter and writes each sheet it completes."""

    def __init__(self, first: Any, target: Path, columns: int) -> None:
        self.width, self.height = first.width, first.height
        sheet = (columns * first.width, STORYBOARD_ROWS * first.height)
        if max(sheet) > JPEG_MAX_SIDE:
            raise ActivityError(
                Reason.INVALID_OUTPUT_SPEC,
                f"storyboard sheets of {sheet[0]}x{sheet[1]} would exceed JPEG's {JPEG_MAX_SIDE} "
                "pixels a side: a smaller size or fewer columns",
            )
        self.columns = columns
        self.per_sheet = columns * STORYBOARD_ROWS
        self.target = target
        self.graph = av.filter.Graph()
        buffer = self.graph.add_buffer(
            width=first.width, height=first.height, format=first.format.name, time_base=first.time_base
        )
        tile = self.graph.add("tile", f"{columns}x{STORYBOARD_ROWS}")
        self.sink = self.graph.add("buffersink")
        buffer.link_to(tile)
        tile.link_to(self.sink)
        self.graph.configure()
        self.buffer = buffer
        self.sheets: list[Path] = []

    def _sheet(self, number: int) -> Path:
        return self.target.with_name(f"{self.target.stem}_{number:05d}.jpg")

    def add(self, thumb: Any, index: int, start: float) -> Tile:
        self.buffer.push(thumb)
        self._write()
        position = index % self.per_sheet
        return Tile(
            start,
            self._sheet(index // self.per_sheet + 1),
            position % self.columns * self.width,
            position // self.columns * self.height,
            self.width,
            self.height,
        )

    def _write(self) -> None:
        while True:
            try:
                sheet = self.sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            path = self._sheet(len(self.sheets) + 1)
            _write_image(sheet, path, qscale=5)
            self.sheets.append(path)

    def close(self) -> list[Path]:
        self.buffer.push(None)
        self._write()
        return self.sheets
