"""ADAPTIVE outputs (this project's extension of CT's output types): an ABR ladder of H.264
renditions and one AAC audio rendition, packaged for adaptive streaming.

Every rung is encoded from the same decoded frames (:func:`engine.video.encode_videos`: the input
is decoded once per span, not once per rung) with the same GOP and no scene-cut keyframes, so
every rendition has its keyframes, and therefore its segment boundaries, at the same times; in a
fan-out each span encodes every rung, and the join cuts each rung's joined stream on the same
grid. The audio is encoded once and is a rendition of its own. On the fan-out each rendition is
packaged by a task of its own, and a last task writes the manifests from what they stored.

Files, beside the master playlist ``<stem>.m3u8`` (the output's ``file``):
``<stem>_<rung>.m3u8``, ``<stem>_<rung>_init.mp4`` and ``<stem>_<rung>_00000.m4s``... per rung,
``<stem>_audio...`` for the audio, and ``<stem>.mpd`` (DASH, over the same CMAF segments). With
``packaging: "ts"`` the segments are MPEG-TS (``.ts``) for old HLS players, and there is no MPD."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine import packaging, video
from engine.errors import ActivityError, Reason
from engine.ladder import PEAK_RATIO, Rung
from engine.media import CheckCancel, Progress, VideoPlan, Watermark

AUDIO_NAME = "audio"
# MPEG-TS renditions start this far in: above any B-frame delay or AAC priming, so no rendition's
# times are negative and the muxer shifts none of them (they stay on one timeline).
TS_LEAD = Fraction(1)


@dataclass(frozen=True)
class AdaptivePlan:
    """The rungs (highest first) with their encoding plans, the frame rate they share, and how
    the package is segmented. The audio takes its codec and bitrate from the first plan."""

    rungs: tuple[tuple[Rung, VideoPlan], ...]
    frame_rate: Fraction
    segments: video.Segments = "cmaf"

    @property
    def plans(self) -> list[VideoPlan]:
        return [plan for _, plan in self.rungs]

    @property
    def lead(self) -> Fraction:
        return TS_LEAD if self.segments == "ts" else Fraction(0)


@dataclass(frozen=True)
class Package:
    """The files written here (the master playlist first) and the package as a probe document."""

    files: list[Path]
    description: dict[str, Any]


def plan_for(
    rungs: Sequence[Rung],
    rate: Fraction,
    *,
    frame_rate: Fraction | None = None,
    audio_bitrate: int | None = 128_000,
    watermark: Watermark | None = None,
    encoder_preset: str = "medium",
    segments: video.Segments = "cmaf",
) -> AdaptivePlan:
    """The package of ``rungs``: each encoded at its size and bitrate (its peak capped), at
    ``frame_rate`` (None: the input's, ``rate``), every one with the same watermark."""
    plans = tuple(
        (
            rung,
            VideoPlan(
                width=rung.width,
                height=rung.height,
                video_bitrate=rung.video_bitrate,
                audio_bitrate=audio_bitrate,
                frame_rate=frame_rate,
                hls=True,
                watermark=watermark,
                encoder_preset=encoder_preset,
                peak_ratio=PEAK_RATIO,
            ),
        )
        for rung in rungs
    )
    return AdaptivePlan(plans, frame_rate or rate, segments)


def span_files(folder: Path, stem: str, plan: AdaptivePlan) -> list[tuple[Path, VideoPlan]]:
    """Where each rung of a span is encoded, with its plan."""
    return [(folder / f"{stem}-{rung.name}.mp4", rendition) for rung, rendition in plan.rungs]


def playlist_of(main: Path, name: str) -> Path:
    """A rendition's media playlist, beside the master playlist ``main``."""
    return main.with_name(f"{main.stem}_{name}.m3u8")


def package_rung(
    index: int,
    spans: list[video.EncodedVideo],
    main: Path,
    plan: AdaptivePlan,
    *,
    fetch: video.Fetch = video.here,
    discard_read: bool = False,
    check_cancel: CheckCancel = lambda: None,
) -> list[Path]:
    """Rung ``index``'s spans (in order) joined into its media playlist and segments."""
    if not spans:
        raise ActivityError(Reason.TRANSCODE_FAIL, "the input has no decodable video frame")
    playlist = playlist_of(main, plan.rungs[index][0].name)
    return video.join(
        spans,
        None,
        playlist,
        segments=plan.segments,
        fetch=fetch,
        discard_read=discard_read,
        check_cancel=check_cancel,
        lead=plan.lead,
    )


def package_audio(audio: Path, main: Path, plan: AdaptivePlan, *, check_cancel: CheckCancel) -> list[Path]:
    """The audio, encoded once, as a rendition of its own."""
    playlist = playlist_of(main, AUDIO_NAME)
    return video.join([], audio, playlist, segments=plan.segments, check_cancel=check_cancel, lead=plan.lead)


def write_manifests(
    main: Path, plan: AdaptivePlan, videos: list[packaging.Rendition], audio: packaging.Rendition | None
) -> list[Path]:
    """The master playlist (``main``) and, for CMAF, the DASH manifest beside it."""
    main.write_text(packaging.master_playlist(videos, audio))
    if plan.segments != "cmaf":
        return [main]
    manifest = main.with_suffix(".mpd")
    manifest.write_text(packaging.dash_manifest(videos, audio))
    return [main, manifest]


def package(
    rungs: Sequence[list[video.EncodedVideo]],
    audio: Path | None,
    main: Path,
    plan: AdaptivePlan,
    *,
    check_cancel: CheckCancel = lambda: None,
) -> Package:
    """Each rung's spans joined into its media playlist and segments, the audio into its own, then
    the manifests, all in this process."""
    videos = []
    for index, spans in enumerate(rungs):
        playlist = package_rung(index, spans, main, plan, check_cancel=check_cancel)[0]
        videos.append(
            packaging.read_rendition(plan.rungs[index][0].name, playlist, frame_rate=plan.frame_rate)
        )
    sound = None
    if audio is not None:
        playlist = package_audio(audio, main, plan, check_cancel=check_cancel)[0]
        sound = packaging.read_rendition(AUDIO_NAME, playlist, frame_rate=None)
    renditions = [*videos, *([sound] if sound else [])]
    files = [*write_manifests(main, plan, videos, sound), *(f for r in renditions for f in r.files())]
    size = sum(path.stat().st_size for path in files)
    return Package(files, packaging.describe(main.name, videos, sound, size))


def transcode(
    source: Path,
    main: Path,
    plan: AdaptivePlan,
    *,
    rotation: int,
    progress: Progress,
    check_cancel: CheckCancel,
) -> Package:
    """The whole package in this process: every rung from one decoding, the audio, packaged."""
    with tempfile.TemporaryDirectory(prefix="cpe-ladder-") as parts:
        folder = Path(parts)
        origin = video.origin_of(source)
        with video.audio_alongside(
            source, folder / "audio.media", plan.plans[0], origin=origin, check_cancel=check_cancel
        ) as alongside:
            encoded = video.encode_videos(
                source,
                span_files(folder, "whole", plan),
                rotation=rotation,
                origin=origin,
                progress=progress,
                check_cancel=alongside.check_cancel,
            )
            audio = alongside.result()
        check_cancel()
        return package([[e] if e else [] for e in encoded], audio, main, plan, check_cancel=check_cancel)
