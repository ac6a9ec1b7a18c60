"""CT's two activities, transport-free: each takes its task input (as CT's activities get it from
the plan), a reporter for its messages and the storage, and returns the activity result.

* ValidateAsset: probes the input through a ranged reader (the headers and a few packets, not the
  whole file) and returns the ffprobe document plus ``mime`` and ``type``.
* TranscodeAsset: one output (VIDEO, THUMB, IMAGE or AUDIO, or this project's ADAPTIVE and
  STORYBOARD); downloads the input, produces the
  files in a working directory, uploads each under ``dirname(output_asset.file)``, and returns the
  ffprobe document of the main file plus ``outputs``: every object written (bucket, key, size,
  content type; the main one with its probe).
"""

from __future__ import annotations

import posixpath
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from engine import adaptive, ladder, media, video
from engine.errors import ActivityError, Reason
from engine.presets import preset
from engine.probe import measured_package, probe
from engine.reporting import ActivityReporter
from engine.sources import InputRef
from engine.storage import Storage, StoredObject
from functions.jobs.payload import CONVERSIONS, MAIN_SUFFIXES, InputAsset, OutputAsset, Watermark

CUSTOM_CMD_TIMEOUT_SECONDS = 6 * 3600
MAX_RESULT_OBJECTS = 500  # objects listed in an activity's result, at most


@dataclass(frozen=True)
class EngineOptions:
    allow_custom_cmd: bool = False
    encoder_preset: str = "medium"
    work_dir: Path | None = None


def validate_asset(
    task: dict[str, Any], reporter: ActivityReporter, storage: Storage, *, max_pixels: int | None = None
) -> dict[str, Any]:
    reporter.started({key: task[key] for key in ("input_asset", "client") if key in task})
    ref = InputRef.from_asset(_parsed(InputAsset, task.get("input_asset"), "input_asset"))
    reporter.preparing()
    reader = storage.sources.open_ranged(ref)
    return probe(reader, name=ref.name, size=reader.size, max_pixels=max_pixels)


def _duration(metadata: dict[str, Any] | None) -> float:
    try:
        return float((metadata or {}).get("format", {}).get("duration") or 0)
    except (TypeError, ValueError):
        return 0.0


def _video_stream(metadata: dict[str, Any] | None) -> dict[str, Any]:
    streams = (metadata or {}).get("streams") or []
    return next((s for s in streams if isinstance(s, dict) and s.get("codec_type") == "video"), {})


def _rotation(stream: dict[str, Any]) -> int:
    for side_data in stream.get("side_data_list") or []:
        if isinstance(side_data, dict) and isinstance(side_data.get("rotation"), int | float):
            return int(side_data["rotation"])
    return 0


def stream_rate(stream: dict[str, Any]) -> Fraction:
    """A probed video stream's frame rate (25 when the probe gives none)."""
    for name in ("avg_frame_rate", "r_frame_rate"):
        numerator, _, denominator = str(stream.get(name) or "0/0").partition("/")
        if numerator.isdigit() and denominator.isdigit() and int(numerator) and int(denominator):
            return Fraction(int(numerator), int(denominator))
    return Fraction(25)


def _display_size(stream: dict[str, Any]) -> tuple[int, int]:
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    return (height, width) if _rotation(stream) % 180 else (width, height)


def _destination(output: OutputAsset) -> tuple[str, str, str]:
    """(bucket, key prefix, file name) of an output: CT uploads to ``dirname(file)``."""
    bucket, file = output.bucket, output.file
    if not bucket or not file or not file.strip("/"):
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "output_asset needs bucket and file")
    directory, name = posixpath.split(file.lstrip("/"))
    return bucket, directory, name


def output_frame_rate(output: OutputAsset) -> Fraction | None:
    """The frame rate an output asks for (its own, else its preset's); None: keep the input's."""
    chosen = preset(output.preset) if output.preset else None
    rate = output.frame_rate or (chosen.frame_rate if chosen else None)
    return Fraction(str(rate)).limit_denominator(1001) if rate else None


_Part = TypeVar("_Part", InputAsset, OutputAsset)


def _parsed(model: type[_Part], value: Any, name: str) -> _Part:
    """A part of the task input, read through the CT job's tolerant view."""
    try:
        return model.model_validate(value if isinstance(value, dict) else {})
    except ValidationError as exc:
        reason = Reason.INPUT_UNREACHABLE if model is InputAsset else Reason.INVALID_OUTPUT_SPEC
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ActivityError(reason, f"{name}: {problems}") from exc


class TranscodeAsset:
    def __init__(
        self, task: dict[str, Any], reporter: ActivityReporter, storage: Storage, options: EngineOptions
    ):
        self.task = task
        self.reporter = reporter
        self.storage = storage
        self.options = options
        self.output = _parsed(OutputAsset, task.get("output_asset"), "output_asset")
        self.input_asset = _parsed(InputAsset, task.get("input_asset"), "input_asset")
        self.metadata: dict[str, Any] | None = task.get("input_asset_metadata")
        self.duration = _duration(self.metadata)

    def started(self) -> None:
        echoed: dict[str, Any] = {
            key: self.task[key] for key in ("input_asset", "output_asset", "client") if key in self.task
        }
        self.reporter.started(echoed)

    def check(self) -> str:
        """The output's kind, once the conversion, ``custom_cmd`` and destination are allowed."""
        kind = self.output.type.upper()
        source_kind = self.input_asset.type.upper()
        if kind not in CONVERSIONS.get(source_kind, ()):
            raise ActivityError(
                Reason.CONVERSION_TYPE_ERROR, f"cannot make {kind or '?'} from {source_kind or '?'}"
            )
        if self.output.custom_cmd and not self.options.allow_custom_cmd:
            raise ActivityError(Reason.CUSTOM_CMD_DISABLED, "custom_cmd is disabled on this stack")
        _, _, name = _destination(self.output)
        wanted = MAIN_SUFFIXES.get(kind)
        if wanted and not name.lower().endswith(wanted):
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, f"an {kind} output's file ends in {wanted}")
        return kind

    def run(self) -> dict[str, Any]:
        """The whole activity in this process: download, produce, upload, describe."""
        self.started()
        kind = self.check()
        with tempfile.TemporaryDirectory(prefix="cpe-engine-", dir=self.options.work_dir) as work:
            work_dir = Path(work)
            source = self._download(work_dir)
            out_dir = work_dir / "out"
            out_dir.mkdir()
            _, _, name = _destination(self.output)
            if name.endswith(".*"):
                name = name[:-2] + (source.suffix or ".jpg")
            produced = self._produce(kind, source, out_dir / name)
            if isinstance(produced, adaptive.Package):
                return self.deliver(produced.files, description=produced.description)
            return self.deliver(produced)

    def deliver(
        self,
        files: list[Path],
        *,
        description: dict[str, Any] | None = None,
        stored_before: Sequence[StoredObject] = (),
    ) -> dict[str, Any]:
        """Upload ``files`` (the main one first) to the output's destination; the activity's
        result: the main file's probe (a storyboard's: its first sprite's; an adaptive package's:
        its ``description``) and every object written (``stored_before``: by earlier tasks)."""
        self.reporter.check_cancel()
        _, prefix, _ = _destination(self.output)
        stored = [*self.upload(files), *stored_before]
        described = 1 if files[0].suffix == ".vtt" and len(files) > 1 else 0  # a track is not media
        path = files[described]
        if description is not None:
            main_probe = {**description, "format": {**description["format"], "filename": stored[0].key}}
        else:
            main_probe = probe(str(path), name=posixpath.join(prefix, path.name), size=path.stat().st_size)
            if files[0].suffix == ".m3u8":  # the playlist's figures are the package's, measured
                main_probe = measured_package(main_probe, files)
        outputs = [obj.as_result() for obj in stored]
        outputs[described]["probe"] = main_probe
        if len(outputs) > MAX_RESULT_OBJECTS:
            # A long package's segments would overflow the report (SQS takes 256 KB): the first
            # objects (manifests, playlists, init segments come first) and how many are left out.
            omitted = len(outputs) - MAX_RESULT_OBJECTS
            return {**main_probe, "outputs": outputs[:MAX_RESULT_OBJECTS], "outputsOmitted": omitted}
        return {**main_probe, "outputs": outputs}

    def destination(self) -> tuple[str, str]:
        """The bucket and key prefix the output's files go to."""
        bucket, prefix, _ = _destination(self.output)
        return bucket, prefix

    def upload(self, files: list[Path]) -> list[StoredObject]:
        """Upload ``files`` to the output's destination, in order."""
        bucket, prefix, _ = _destination(self.output)
        return self._upload(files, bucket, prefix)

    def main_file(self, out_dir: Path, *, playlist: bool) -> Path:
        """Where a VIDEO or ADAPTIVE output's main file is made (an HLS one's is a playlist)."""
        _, _, name = _destination(self.output)
        main = out_dir / name
        return main.with_suffix(".m3u8") if playlist and main.suffix.lower() != ".m3u8" else main

    @property
    def rotation(self) -> int:
        return _rotation(_video_stream(self.metadata))

    def _download(self, work_dir: Path) -> Path:
        ref = InputRef.from_asset(self.input_asset)
        suffix = Path(posixpath.basename(ref.key or ref.url or "input")).suffix[:8]
        self.reporter.preparing()
        return self.storage.sources.download(
            ref, work_dir / f"input{suffix}", lambda _: self.reporter.preparing()
        )

    def _progress(self, done: float) -> None:
        self.reporter.progress(done, self.duration)

    def _produce(self, kind: str, source: Path, main: Path) -> list[Path] | adaptive.Package:
        stream = _video_stream(self.metadata)
        rotation = _rotation(stream)
        if self.output.custom_cmd:
            return self._custom(source, main)
        if kind == "ADAPTIVE":
            package = self.adaptive_plan(source.parent)
            return adaptive.transcode(
                source,
                self.main_file(main.parent, playlist=True),
                package,
                rotation=rotation,
                progress=self._progress,
                check_cancel=self.reporter.check_cancel,
            )
        if kind == "STORYBOARD":
            return media.storyboard(
                source,
                main,
                every=float(self.output.intervals) if self.output.intervals else None,
                size=self.output.size,
                columns=self.output.columns or 10,
                duration=self.duration,
                rotation=rotation,
                check_cancel=self.reporter.check_cancel,
                progress=self._progress,
            )
        if kind == "VIDEO":
            plan = self.video_plan(source.parent)
            main = self.main_file(main.parent, playlist=plan.hls)
            return video.transcode_video(
                source,
                main,
                plan,
                rotation=rotation,
                progress=self._progress,
                check_cancel=self.reporter.check_cancel,
            )
        if kind == "THUMB":
            mode = self.output.mode or "snapshot"
            if mode not in ("snapshot", "intervals"):
                raise ActivityError(Reason.INVALID_OUTPUT_SPEC, f"mode {mode!r} is not snapshot or intervals")
            every = float(self.output.intervals or 10) if mode == "intervals" else None
            at = None if every else [float(self.output.snapshot_sec or 0)]
            if every is not None and every <= 0:
                raise ActivityError(
                    Reason.INVALID_OUTPUT_SPEC, "intervals must be a positive number of seconds"
                )
            return media.thumbnails(
                source,
                main,
                at=at,
                every=every,
                size=self.output.size,
                rotation=rotation,
                check_cancel=self.reporter.check_cancel,
                progress=self._progress,
            )
        if kind == "IMAGE":
            resize = self.output.resize or self.output.thumbnail
            media.convert_image(
                source,
                main,
                crop=self.output.crop,
                resize=resize,
                quality=self.output.quality,
            )
            return [main]
        media.extract_audio(
            source,
            main,
            codec=self.output.audio_codec,
            bitrate=media.parse_bitrate(self.output.audio_bitrate) or 128_000,
            progress=self._progress,
            check_cancel=self.reporter.check_cancel,
        )
        return [main]

    def video_plan(self, work_dir: Path) -> media.VideoPlan:
        """How a VIDEO output is encoded (its watermark, if any, downloaded into ``work_dir``)."""
        stream = _video_stream(self.metadata)
        output = self.output
        chosen = preset(output.preset) if output.preset else None
        box = media.parse_size(output.size) if output.size else (chosen.size if chosen else None)
        source_size = _display_size(stream)
        if source_size == (0, 0):
            raise ActivityError(Reason.CONVERSION_TYPE_ERROR, "the input's probe shows no video stream")
        width, height = media.fit(
            source_size,
            box,
            keep_ratio=output.keep_ratio is not False,
            allow_upscale=bool(output.allow_upscale),
        )
        frame_rate = output_frame_rate(output)
        hls = chosen.hls if chosen else (output.file or "").lower().endswith(".m3u8")
        bitrate = media.parse_bitrate(output.video_bitrate)
        if bitrate is None and chosen is not None:
            # A rendition smaller than its preset's box (never upscaled) gets the bitrate of its size.
            bitrate = ladder.fitted_bitrate(
                media.parse_bitrate(chosen.video_bitrate) or 0, chosen.size, (width, height)
            )
        return media.VideoPlan(
            width=width,
            height=height,
            video_codec=output.video_codec or (chosen.video_codec if chosen else "libx264"),
            audio_codec=output.audio_codec or (chosen.audio_codec if chosen else "aac"),
            video_bitrate=bitrate or None,
            audio_bitrate=media.parse_bitrate(
                output.audio_bitrate or (chosen.audio_bitrate if chosen else "128k")
            ),
            frame_rate=frame_rate,
            hls=hls,
            watermark=self._watermark(work_dir),
            encoder_preset=self.options.encoder_preset,
        )

    def adaptive_plan(self, work_dir: Path) -> adaptive.AdaptivePlan:
        """The ladder of an ADAPTIVE output (its watermark, if any, downloaded into ``work_dir``)."""
        stream = _video_stream(self.metadata)
        output = self.output
        source_size = _display_size(stream)
        if source_size == (0, 0):
            raise ActivityError(Reason.CONVERSION_TYPE_ERROR, "the input's probe shows no video stream")
        if output.video_codec not in (None, "libx264") or output.audio_codec not in (None, "aac"):
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "an ADAPTIVE output is H.264 (libx264) and AAC")
        if output.packaging not in (None, "cmaf", "ts"):
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "packaging is cmaf or ts")
        frame_rate = output_frame_rate(output)
        rate = frame_rate or stream_rate(stream)
        explicit = [(rung.height, media.parse_bitrate(rung.video_bitrate)) for rung in output.ladder or []]
        rungs = ladder.choose(source_size, rate, explicit or None, allow_upscale=bool(output.allow_upscale))
        return adaptive.plan_for(
            rungs,
            rate,
            frame_rate=frame_rate,
            audio_bitrate=media.parse_bitrate(output.audio_bitrate or "128k"),
            watermark=self._watermark(work_dir),
            encoder_preset=self.options.encoder_preset,
            segments="ts" if output.packaging == "ts" else "cmaf",
        )

    def _watermark(self, work_dir: Path) -> media.Watermark | None:
        mark: Watermark | None = self.output.watermark
        if mark is None:
            return None
        ref = InputRef(bucket=mark.bucket, key=mark.file.lstrip("/"))
        target = work_dir / "watermark.png"  # removed with the job's working directory
        self.storage.sources.download(ref, target, lambda _: self.reporter.preparing())
        width = height = None
        if mark.size:
            width, height = (int(v) if int(v) > 0 else None for v in mark.size.split(":", 1))
        opacity = 1.0 if mark.opacity is None else mark.opacity
        if not 0 <= opacity <= 1:
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "watermark opacity must be between 0 and 1")
        return media.Watermark(target, width, height, opacity, mark.x or 0, mark.y or 0)

    def _custom(self, source: Path, main: Path) -> list[Path]:
        """CT's ``custom_cmd`` (only where the stack allows it): the template split like a shell
        would, the placeholders filled in, and FFmpeg run directly, never through a shell."""
        executable = shutil.which("ffmpeg")
        words = shlex.split(self.output.custom_cmd or "")
        if not words or words[0] != "ffmpeg" or executable is None:
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "custom_cmd must run ffmpeg, installed on PATH")
        values = {"${input_file}": str(source), "${output_file}": str(main), "${watermark_options}": ""}
        arguments = [executable] + [values.get(word, word) for word in words[1:] if values.get(word, word)]
        try:
            subprocess.run(arguments, check=True, capture_output=True, timeout=CUSTOM_CMD_TIMEOUT_SECONDS)  # noqa: S603
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise ActivityError(Reason.TRANSCODE_FAIL, f"custom_cmd failed: {exc}") from exc
        return sorted(main.parent.iterdir(), key=lambda p: (p != main, p.name))

    def _upload(self, files: list[Path], bucket: str, prefix: str) -> list[StoredObject]:
        stored = []
        for path in files:
            self.reporter.check_cancel()
            self.reporter.finishing()
            stored.append(
                self.storage.upload(
                    path,
                    bucket=bucket,
                    key=posixpath.join(prefix, path.name),
                    encrypt=bool(self.output.s3_encrypt),
                    reduced_redundancy=bool(self.output.s3_rrs),
                    progress=lambda _: self.reporter.finishing(),
                )
            )
        return stored
