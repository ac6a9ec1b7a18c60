"""ADAPTIVE outputs (this project's extension of CT's output types): an ABR ladder of H.264
renditions and one AAC audio rendition, packaged for adaptive streaming.

Every rung is encoded from the same decoded frames (:func:`engine.video.encode_videos`: the input
is decoded once per span, not once per rung) with the same GOP and no scene-cut keyframes, so
every rendition has its keyframes, and therefore its segment boundaries, at the same times; in a
fan-out each span encodes every rung, and the join cuts each rung's joined stream on the same
grid. The audio is encoded once and is a rendition of its own.

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

from engine import packaging, video
from engine.errors import ActivityError, Reason
from engine.ladder import Rung
from engine.media import CheckCancel, Progress, VideoPlan

AUDIO_NAME = "audio"
# MPEG-TS renditions start this far in: above any B-frame delay or AAC priming, so no rendition's
# times are negative and the muxer shifts none of them (they stay on one timeline).
TS_LEAD = Fraction(1)


@dataclass(frozen=True)
class AdaptivePlan:
    """The rungs (highest first) with their encoding plans, and how the package is segmented.
    The audio takes its codec and bitrate from the first plan."""

    rungs: tuple[tuple[Rung, VideoPlan], ...]
    segments: video.Segments = "cmaf"

    @property
    def plans(self) -> list[VideoPlan]:
        return [plan for _, plan in self.rungs]


def span_files(folder: Path, stem: str, plan: AdaptivePlan) -> list[tuple[Path, VideoPlan]]:
    """Where each rung of a span is encoded, with its plan."""
    return [(folder / f"{stem}-{rung.name}.mp4", rendition) for rung, rendition in plan.rungs]


def package(
    rungs: Sequence[list[video.EncodedVideo]],
    audio: Path | None,
    main: Path,
    plan: AdaptivePlan,
    *,
    fetch: video.Fetch = video.here,
    discard_read: bool = False,
    check_cancel: CheckCancel = lambda: None,
) -> list[Path]:
    """Each rung's spans (in order) joined into its media playlist and segments, the audio into
    its own, then the manifests. Returns every file written, the master playlist first."""
    if main.suffix != ".m3u8":
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "an ADAPTIVE output's file is its .m3u8 playlist")
    videos = []
    for (rung, _), spans in zip(plan.rungs, rungs, strict=True):
        if not spans:
            raise ActivityError(Reason.TRANSCODE_FAIL, "the input has no decodable video frame")
        playlist = main.with_name(f"{main.stem}_{rung.name}.m3u8")
        video.join(
            spans,
            None,
            playlist,
            segments=plan.segments,
            fetch=fetch,
            discard_read=discard_read,
            check_cancel=check_cancel,
            lead=_lead(plan),
        )
        videos.append(packaging.read_rendition(rung.name, playlist))
    sound = None
    if audio is not None:
        playlist = main.with_name(f"{main.stem}_{AUDIO_NAME}.m3u8")
        video.join([], audio, playlist, segments=plan.segments, check_cancel=check_cancel, lead=_lead(plan))
        sound = packaging.read_rendition(AUDIO_NAME, playlist)
    main.write_text(packaging.master_playlist(videos, sound))
    written = [main]
    if plan.segments == "cmaf":
        manifest = main.with_suffix(".mpd")
        manifest.write_text(packaging.dash_manifest(videos, sound))
        written.append(manifest)
    for rendition in [*videos, *([sound] if sound else [])]:
        written += rendition.files()
    return written


def _lead(plan: AdaptivePlan) -> Fraction:
    return TS_LEAD if plan.segments == "ts" else Fraction(0)


def transcode(
    source: Path,
    main: Path,
    plan: AdaptivePlan,
    *,
    rotation: int,
    progress: Progress,
    check_cancel: CheckCancel,
) -> list[Path]:
    """The whole package in this process: every rung from one decoding, the audio, packaged."""
    with tempfile.TemporaryDirectory(prefix="cpe-ladder-") as parts:
        folder = Path(parts)
        origin = video.origin_of(source)
        encoded = video.encode_videos(
            source,
            span_files(folder, "whole", plan),
            rotation=rotation,
            origin=origin,
            progress=progress,
            check_cancel=check_cancel,
        )
        audio = video.encode_audio(
            source, folder / "audio.media", plan.plans[0], origin=origin, check_cancel=check_cancel
        )
        check_cancel()
        return package([[e] if e else [] for e in encoded], audio, main, plan, check_cancel=check_cancel)
