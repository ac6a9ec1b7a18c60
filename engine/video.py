"""Video renditions, in pieces that can run apart and join into what one pass makes:

* :func:`spans` cuts the input's timeline on the output's keyframe grid (a whole number of GOPs
  per span), so a span's first frame is a keyframe exactly where a single pass puts one;
* :func:`encode_video` encodes one span (or the whole input) to a video-only file: it seeks to the
  keyframe at or before the span, decodes forward and keeps exactly the frames whose time falls
  in the span, through the same filter graph (rotation, scale, frame rate, watermark) as any other;
* :func:`encode_audio` encodes the audio once, for the whole input (AAC's priming would click or
  drift at every join if each span had its own);
* :func:`package` joins spans and audio by stream copy (no re-encoding) into an MP4 with fast start
  or an HLS VOD playlist and its segments.

:func:`transcode_video` is the three in one process: the engine's single invocation and the
segmented fan-out run the same code. Times are seconds from the input's first decodable video
frame ("the origin"), so every piece agrees on them whatever the container's start time."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import math
import queue
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.error
from av.stream import Discard
from av.video.frame import PictureType

from engine.errors import ActivityError, Canceled, Reason
from engine.media import (
    CheckCancel,
    FilterGraph,
    Progress,
    Source,
    VideoPlan,
    audio_rate,
    open_input,
    rotation_filters,
    transcode_failed,
)

GOP_SECONDS = 2
HLS_SEGMENT_SECONDS = 6
# A span must be worth its overhead (it decodes from the keyframe before it): shorter last spans
# are merged into the one before.
MIN_LAST_SPAN = Fraction(1, 4)


@dataclass(frozen=True)
class Span:
    """Part of the input's timeline, [start, end) in seconds from the origin (end None: to the end)."""

    index: int
    start: Fraction
    end: Fraction | None


@dataclass(frozen=True)
class EncodedVideo:
    """A span encoded: its file, the exact time of its first frame, how many frames it holds, and
    a digest of its encoder's parameter sets (stream copy joins only spans whose sets are equal)."""

    path: Path
    first_frame: Fraction
    frames: int
    parameters: str | None = None


Fetch = Callable[[EncodedVideo], Path]  # brings a span's file to its path (for the join)


def gop_frames(rate: Fraction) -> int:
    return max(1, round(float(rate) * GOP_SECONDS))


def spans(duration: float, rate: Fraction, span_seconds: float) -> list[Span]:
    """The input's timeline cut every whole number of GOPs closest to ``span_seconds`` (at least
    one GOP), on the output's frame grid at ``rate``."""
    gop = Fraction(gop_frames(rate)) / rate
    step = gop * max(1, round(Fraction(span_seconds) / gop))
    count = max(1, math.ceil(Fraction(duration) / step)) if duration > 0 else 1
    if count > 1 and Fraction(duration) - step * (count - 1) < step * MIN_LAST_SPAN:
        count -= 1
    return [
        Span(index, step * index, step * (index + 1) if index < count - 1 else None) for index in range(count)
    ]


def output_rate(plan: VideoPlan, stream: Any) -> Fraction:
    return Fraction(plan.frame_rate or stream.guessed_rate or stream.average_rate or 25)


def _video_stream(container: Any, kind: str = "a VIDEO output") -> Any:
    if not container.streams.video:
        raise ActivityError(Reason.CONVERSION_TYPE_ERROR, f"{kind} needs an input with video")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = 0
    for other in container.streams:  # read only the video (a span's reader fetches less)
        if other is not stream:
            other.discard = Discard.all
    return stream


def origin_of(source: Source) -> int:
    """The pts of the input's first decodable video frame, in its stream's time base."""
    with open_input(source) as container:
        stream = _video_stream(container)
        try:
            for frame in container.decode(stream):
                if frame.pts is not None:
                    return int(frame.pts)
        except av.error.FFmpegError as exc:
            raise transcode_failed(exc) from exc
    raise ActivityError(Reason.TRANSCODE_FAIL, "the input has no decodable video frame")


def _graph(stream: Any, plan: VideoPlan, rotation: int, rate: Fraction) -> FilterGraph:
    # Always onto the output's constant frame rate, as the FFmpeg CLI does for MP4: a variable
    # frame rate input (phones) would otherwise put two frames on one timestamp of the encoder.
    filters = [*rotation_filters(rotation), ("scale", f"{plan.width}:{plan.height}"), ("fps", str(rate))]
    filters.append(("format", "yuv420p"))
    return FilterGraph(stream, filters, plan.watermark)


class _Decoding:
    """The decoded frames of one span (all of them without one), in time order, on the origin: it
    seeks to the keyframe at or before the span and decodes forward, up to one frame past the span
    (which settles every output frame before it); a seek that lands after the span's start
    (MPEG-TS has no index) is made again, further back. ``input_ended``: the input ran out before
    the span's end (the filter graphs must then be flushed, as a single pass does)."""

    def __init__(
        self, source: Source, span: Span | None, origin: int, progress: Progress, check_cancel: CheckCancel
    ) -> None:
        self.source = source
        self.span = span
        self.origin = origin
        self.progress = progress
        self.check_cancel = check_cancel
        self.input_ended = False

    def frames(self, opened: Callable[[Any], None]) -> Iterator[Any]:
        """The frames; ``opened`` is called with the input's video stream before the first one."""
        back = Fraction(0)
        with open_input(self.source) as container:
            stream = _video_stream(container)
            opened(stream)
            while (yield from self._attempt(container, stream, back)):
                back = back * 2 if back else Fraction(1)

    def _attempt(self, container: Any, stream: Any, back: Fraction) -> Generator[Any, None, bool]:
        """One decoding from a seek ``back`` seconds before the span; True: it must seek again."""
        start = self.span.start if self.span is not None else Fraction(0)
        end = self.span.end if self.span is not None else None
        if start:
            target = max(start - back, Fraction(-1))  # below 0: back to the very start
            container.seek(self.origin + int(target / stream.time_base), backward=True, stream=stream)
        decoded = 0
        keyframe_seen = False
        try:
            for packet in container.demux(stream):
                if not keyframe_seen:  # after a seek, decoding starts at a keyframe
                    if packet.size == 0 or not packet.is_keyframe:
                        continue
                    keyframe_seen = True
                for frame in stream.decode(packet):
                    if frame.pts is None:
                        continue
                    time = (frame.pts - self.origin) * stream.time_base
                    if decoded == 0 and start and time > start and back <= start:
                        return True
                    decoded += 1
                    if decoded % 64 == 0:
                        self.check_cancel()
                    self.progress(float(time))
                    frame.pts -= self.origin
                    # The decoder's picture types would be forced on the encoder (extra IDRs).
                    frame.pict_type = PictureType.NONE
                    yield frame
                    # One input frame past the end settles every output frame before it.
                    if end is not None and time >= end:
                        return False
            if start and decoded == 0 and back <= start:
                return True  # landed after the last keyframe: nothing was decoded
        except av.error.FFmpegError as exc:
            raise transcode_failed(exc) from exc
        self.input_ended = True
        return False


def _within(frames: Iterator[Any], start: Fraction, end: Fraction | None) -> Iterator[tuple[Fraction, Any]]:
    for frame in frames:
        time = frame.pts * frame.time_base
        if time >= start and (end is None or time < end):
            yield time, frame


def _video_encoder(output: Any, plan: VideoPlan, rate: Fraction) -> Any:
    try:
        stream = output.add_stream(plan.video_codec, rate=rate)
    except ValueError as exc:  # PyAV's UnknownCodecError
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, f"unknown video codec {plan.video_codec!r}") from exc
    stream.width, stream.height, stream.pix_fmt = plan.width, plan.height, "yuv420p"
    if plan.video_bitrate:
        stream.bit_rate = plan.video_bitrate
    stream.codec_context.gop_size = gop_frames(rate)
    # All cores, threaded as the FFmpeg CLI threads it: "-threads auto" (libavcodec's default is one
    # thread) and frame threading allowed. PyAV makes every codec context slice-threaded, which puts
    # x264 in its sliced mode: 20-28% slower on two cores (bench.engine; docs/decisions.md).
    stream.codec_context.thread_count = 0
    stream.codec_context.thread_type = "AUTO"
    options = {}
    if plan.video_codec in ("libx264", "libx265"):
        # No scene-cut keyframes: keyframes every GOP only, the same in every span and rung.
        options = {"preset": plan.encoder_preset, "sc_threshold": "0"}
    if plan.video_bitrate and plan.peak_ratio:
        # A capped peak (VBV): a player switching renditions by bandwidth can trust the figures.
        options["maxrate"] = str(round(plan.video_bitrate * plan.peak_ratio))
        options["bufsize"] = str(plan.video_bitrate * 2)
    stream.options = options
    return stream


def encode_video(
    source: Source,
    target: Path,
    plan: VideoPlan,
    *,
    rotation: int,
    span: Span | None = None,
    origin: int | None = None,
    progress: Progress,
    check_cancel: CheckCancel,
) -> EncodedVideo | None:
    """``span`` of the input (all of it without one) encoded to ``target`` (MP4, video only).
    None if no frame falls in the span (an input shorter than its probe said)."""
    return encode_videos(
        source,
        [(target, plan)],
        rotation=rotation,
        span=span,
        origin=origin,
        progress=progress,
        check_cancel=check_cancel,
    )[0]


_FLUSH, _FINISH, _ABORT = object(), object(), object()  # what a rendition's worker is told, last
QUEUED_FRAMES = 8  # decoded frames waiting for a rendition's worker (each holds a reference)


class _Rendition:
    """One rendition of a pass, in a thread of its own: it filters the decoded frames it is given
    (scale, frame rate, watermark), encodes those in the span and writes them to its file. FFmpeg
    releases the GIL while it filters and encodes, so the renditions (and the decoding) use every
    core; the input is still decoded once."""

    def __init__(
        self, target: Path, plan: VideoPlan, stream: Any, *, rotation: int, rate: Fraction, span: Span | None
    ):
        self.target, self.plan, self.rate = target, plan, rate
        self.start = span.start if span is not None else Fraction(0)
        self.end = span.end if span is not None else None
        self.graph = _graph(stream, plan, rotation, rate)
        self.frames: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_FRAMES)
        self.error: BaseException | None = None
        self.encoded: EncodedVideo | None = None
        self._output: Any = None
        self._encoder: Any = None
        self._first = Fraction(0)
        self._count = 0
        self.thread = threading.Thread(target=self._run, name=f"rendition-{target.stem}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        item: Any = None
        try:
            with contextlib.ExitStack() as files:
                while (item := self.frames.get()) is not _ABORT:
                    if item is _FINISH:
                        self._finish()
                        return
                    self._encode(files, self.graph.flush() if item is _FLUSH else self.graph.push(item))
                    if item is _FLUSH:
                        self._finish()
                        return
        except BaseException as exc:  # noqa: BLE001 - handed to the decoding thread, which raises it
            self.error = exc
            while not any(item is last for last in (_FLUSH, _FINISH, _ABORT)):
                item = self.frames.get()  # never leave the decoding thread blocked on a full queue

    def _encode(self, files: contextlib.ExitStack, filtered: Iterator[Any]) -> None:
        for time, frame in _within(filtered, self.start, self.end):
            if self._output is None:
                self._output = files.enter_context(av.open(str(self.target), "w", format="mp4"))
                self._encoder, self._first = _video_encoder(self._output, self.plan, self.rate), time
            frame.pts = round((time - self._first) / frame.time_base)
            self._output.mux(self._encoder.encode(frame))
            self._count += 1

    def _finish(self) -> None:
        if self._output is not None:
            self._output.mux(self._encoder.encode(None))
            digest = hashlib.sha256(bytes(self._encoder.codec_context.extradata or b"")).hexdigest()[:32]
            self.encoded = EncodedVideo(self.target, self._first, self._count, digest)

    def give(self, item: Any) -> None:
        self.frames.put(item)

    def result(self) -> EncodedVideo | None:
        self.thread.join()
        if isinstance(self.error, av.error.FFmpegError):
            raise transcode_failed(self.error) from self.error
        if self.error is not None:
            raise self.error
        return self.encoded


def encode_videos(
    source: Source,
    renditions: Sequence[tuple[Path, VideoPlan]],
    *,
    rotation: int,
    span: Span | None = None,
    origin: int | None = None,
    progress: Progress,
    check_cancel: CheckCancel,
) -> list[EncodedVideo | None]:
    """``span`` of the input encoded to every (target, plan) of ``renditions`` from one decoding:
    each decoded frame goes to every rendition's filter graph and encoder (:class:`_Rendition`).
    The plans share a frame rate, so every rendition has its keyframes at the same times (a fixed
    GOP, no scene-cut keyframes). An entry is None if no frame of its rendition falls in the span."""
    plans = [plan for _, plan in renditions]
    if len({plan.frame_rate for plan in plans}) > 1:
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "the renditions of one pass share a frame rate")
    origin = origin_of(source) if origin is None else origin
    decoding = _Decoding(source, span, origin, progress, check_cancel)
    workers: list[_Rendition] = []

    def opened(stream: Any) -> None:
        rate = output_rate(plans[0], stream)
        workers.extend(
            _Rendition(target, plan, stream, rotation=rotation, rate=rate, span=span)
            for target, plan in renditions
        )

    try:
        for frame in decoding.frames(opened):
            if any(worker.error for worker in workers):
                break  # its error is raised below
            for worker in workers:
                worker.give(frame)
    except BaseException:
        for worker in workers:
            worker.give(_ABORT)
            worker.thread.join()
        raise
    for worker in workers:
        worker.give(_FLUSH if decoding.input_ended else _FINISH)
    for worker in workers:
        worker.thread.join()  # every one, before any error is raised: no thread outlives the pass
    return [worker.result() for worker in workers]


def encode_audio(
    source: Source, target: Path, plan: VideoPlan, *, origin: int, check_cancel: CheckCancel
) -> Path | None:
    """The input's first audio stream, for the whole input, in ``plan``'s codec (None: no audio).
    Its times are on the video's origin, so it lines up with every span."""
    with open_input(source) as container:
        if not container.streams.audio:
            return None
        audio = container.streams.audio[0]
        video = container.streams.video[0] if container.streams.video else None
        for other in container.streams:
            if other is not audio:
                other.discard = Discard.all
        shift = round(origin * video.time_base / audio.time_base) if video is not None else 0
        try:
            with av.open(
                str(target), "w", format="mp4" if plan.audio_codec == "aac" else "matroska"
            ) as output:
                encoder: Any = output.add_stream(plan.audio_codec, rate=audio_rate(plan.audio_codec, audio))
                if plan.audio_bitrate:
                    encoder.bit_rate = plan.audio_bitrate
                for count, frame in enumerate(container.decode(audio)):
                    if count % 256 == 0:
                        check_cancel()
                    if frame.pts is not None:
                        frame.pts -= shift
                    output.mux(encoder.encode(frame))
                output.mux(encoder.encode(None))
        except av.error.FFmpegError as exc:
            raise transcode_failed(exc) from exc
    return target


@dataclass(frozen=True)
class AudioAlongside:
    """The audio being encoded beside the video: ``check_cancel`` is the video's (it also fails as
    soon as the audio has failed: the job fails with the audio's error, not after the whole video),
    ``result`` waits for the audio file."""

    check_cancel: CheckCancel
    result: Callable[[], Path | None]


@contextlib.contextmanager
def audio_alongside(
    source: Path, target: Path, plan: VideoPlan, *, origin: int, check_cancel: CheckCancel
) -> Iterator[AudioAlongside]:
    """:func:`encode_audio` in a thread of its own while the caller encodes the video, as the FFmpeg
    CLI encodes them (FFmpeg releases the GIL while it works). Leaving the block stops the audio if
    the block failed, and waits for its thread in every case: no thread writes on once it is left."""
    stop = threading.Event()

    def audio_check_cancel() -> None:
        if stop.is_set():
            raise Canceled()
        check_cancel()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio") as pool:
        audio = pool.submit(
            encode_audio, source, target, plan, origin=origin, check_cancel=audio_check_cancel
        )

        def video_check_cancel() -> None:
            if audio.done() and (failure := audio.exception()) is not None:
                raise failure
            check_cancel()

        try:
            yield AudioAlongside(video_check_cancel, audio.result)
        finally:
            stop.set()  # the audio is done if it was waited for; if the video failed, it is not needed


def _video_packets(
    videos: list[EncodedVideo], fetch: Fetch, *, discard_read: bool, lead: Fraction
) -> Iterator[Any]:
    for video in videos:
        with av.open(str(fetch(video))) as container:
            stream: Any = container.streams.video[0]
            shift = None
            for packet in container.demux(stream):
                if packet.dts is None or packet.pts is None:  # demux ends with an empty packet
                    continue
                if shift is None:  # the first packet in decode order is the span's keyframe
                    shift = round((video.first_frame + lead) / stream.time_base) - packet.pts
                packet.pts += shift
                packet.dts += shift
                yield packet
        if discard_read:
            video.path.unlink(missing_ok=True)  # fetched for the join: one span on disk at a time


def _audio_packets(path: Path, lead: Fraction) -> Iterator[Any]:
    with av.open(str(path)) as container:
        stream: Any = container.streams.audio[0]
        shift = round(lead / stream.time_base)
        for packet in container.demux(stream):
            if packet.dts is not None and packet.pts is not None:
                packet.pts += shift
                packet.dts += shift
                yield packet


def here(video: EncodedVideo) -> Path:
    return video.path


Segments = Literal["ts", "cmaf"]
SEGMENT_SUFFIXES = {"ts": ".ts", "cmaf": ".m4s"}


def package(
    videos: list[EncodedVideo],
    audio: Path | None,
    target: Path,
    plan: VideoPlan,
    *,
    fetch: Fetch = here,
    discard_read: bool = False,
    check_cancel: CheckCancel = lambda: None,
) -> list[Path]:
    """Spans (in order) and the audio joined by stream copy into ``target``: an MP4 with fast
    start, or (an HLS plan) an HLS VOD playlist beside its MPEG-TS segments. Returns the files
    written, the main one first. ``fetch`` brings a span's file when its turn comes; with
    ``discard_read`` it is removed once read, so a long output's join holds one span at a time."""
    if not videos:
        raise ActivityError(Reason.TRANSCODE_FAIL, "the input has no decodable video frame")
    return join(
        videos,
        audio,
        target,
        segments="ts" if plan.hls else None,
        fetch=fetch,
        discard_read=discard_read,
        check_cancel=check_cancel,
    )


def join(
    videos: list[EncodedVideo],
    audio: Path | None,
    target: Path,
    *,
    segments: Segments | None,
    fetch: Fetch = here,
    discard_read: bool = False,
    check_cancel: CheckCancel = lambda: None,
    lead: Fraction = Fraction(0),
) -> list[Path]:
    """Spans and audio (either may be missing: an adaptive package's renditions are video only,
    its audio a rendition of its own) joined by stream copy into ``target``: an MP4 with fast
    start (``segments`` None), or an HLS VOD playlist of ``HLS_SEGMENT_SECONDS`` segments beside
    it, ``<stem>_00000.ts``... or CMAF's ``<stem>_00000.m4s``... after ``<stem>_init.mp4``. Every
    segment starts on a keyframe at or after each multiple of the segment length, so renditions
    with the same keyframes are cut at the same times.

    Timestamps are written as they are (a B-frame stream's first decode times, and AAC's priming,
    are negative; MP4 and CMAF keep them with edit lists): a muxer shifting each file's streams on
    its own would put renditions joined apart off each other's timeline. MPEG-TS cannot carry
    negative times, so renditions joined apart all start ``lead`` seconds in."""
    if not videos and audio is None:
        raise ActivityError(Reason.TRANSCODE_FAIL, "nothing to package")
    options = {"movflags": "+faststart"}
    if segments is not None:
        options = {
            "hls_time": str(HLS_SEGMENT_SECONDS),
            "hls_playlist_type": "vod",
            "hls_flags": "independent_segments",
            "avoid_negative_ts": "disabled",
            "hls_segment_type": "fmp4" if segments == "cmaf" else "mpegts",
            "hls_segment_filename": str(target.with_name(f"{target.stem}_%05d{SEGMENT_SUFFIXES[segments]}")),
        }
        if segments == "cmaf":
            options["hls_fmp4_init_filename"] = f"{target.stem}_init.mp4"
    if videos:
        # Stream copy needs the same parameter sets in every span.
        if all(video.parameters for video in videos):
            if len({video.parameters for video in videos}) > 1:
                raise ActivityError(Reason.TRANSCODE_FAIL, "the spans were encoded differently")
        else:
            _same_parameters(videos, fetch)
    try:
        with av.open(
            str(target), "w", format="mp4" if segments is None else "hls", options=options
        ) as output:
            video_out = audio_out = None
            packets: Iterator[Any] = iter(())
            if videos:
                with av.open(str(fetch(videos[0]))) as first:
                    video_out = output.add_stream_from_template(first.streams.video[0])
                packets = _video_packets(videos, fetch, discard_read=discard_read, lead=lead)
            if audio is not None:
                with av.open(str(audio)) as audio_in:
                    audio_out = output.add_stream_from_template(audio_in.streams.audio[0])
                packets = heapq.merge(packets, _audio_packets(audio, lead), key=lambda p: p.dts * p.time_base)
            for count, packet in enumerate(packets):
                if count % 1000 == 0:
                    check_cancel()  # a long join watches its time and its job's cancel too
                packet.stream = video_out if packet.stream.type == "video" else audio_out
                output.mux(packet)
    except av.error.FFmpegError as exc:
        raise transcode_failed(exc) from exc
    if segments is None:
        return [target]
    written = sorted(
        p
        for p in target.parent.iterdir()
        if p.name.startswith(f"{target.stem}_") and p.suffix in (".ts", ".m4s", ".mp4")
    )
    return [target, *written]


def _same_parameters(videos: list[EncodedVideo], fetch: Fetch) -> None:
    with av.open(str(fetch(videos[0]))) as first:
        template = first.streams.video[0].codec_context.extradata
    for video in videos[1:]:
        with av.open(str(fetch(video))) as other:
            if other.streams.video[0].codec_context.extradata != template:
                raise ActivityError(Reason.TRANSCODE_FAIL, f"span {video.path.name} was encoded differently")


def transcode_video(
    source: Path,
    target: Path,
    plan: VideoPlan,
    *,
    rotation: int,
    progress: Progress,
    check_cancel: CheckCancel,
) -> list[Path]:
    """The whole rendition in this process: the input as one span, its audio, packaged. Returns the
    files written (``target`` first; an HLS playlist's segments after it)."""
    with tempfile.TemporaryDirectory(prefix="cpe-video-") as parts:
        origin = origin_of(source)
        with audio_alongside(
            source, Path(parts) / "audio.media", plan, origin=origin, check_cancel=check_cancel
        ) as alongside:
            video = encode_video(
                source,
                Path(parts) / "video.mp4",
                plan,
                rotation=rotation,
                origin=origin,
                progress=progress,
                check_cancel=alongside.check_cancel,
            )
            audio = alongside.result()
        check_cancel()
        return package([video] if video else [], audio, target, plan)
