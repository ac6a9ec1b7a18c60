"""The project's video presets, under CT's preset names (CT loaded ``presets/<name>.json`` from
CloudTranscode-FFMpeg-presets). H.264 + AAC everywhere: what every browser and device plays. CT's
device presets (iphone*, kindle*, appleTV*) are not carried over: they described 2012 devices."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from engine.errors import ActivityError, Reason


@dataclass(frozen=True)
class Preset:
    size: tuple[int, int]
    video_bitrate: str
    audio_bitrate: str = "128k"
    frame_rate: Fraction | None = None  # None: keep the input's
    video_codec: str = "libx264"
    audio_codec: str = "aac"
    hls: bool = False


PRESETS = {
    "1080p": Preset((1920, 1080), "5M", "192k"),
    "720p": Preset((1280, 720), "2500k", "160k"),
    "480p": Preset((854, 480), "1200k"),
    "480p-4.3": Preset((640, 480), "1000k"),
    "480p-16.9": Preset((854, 480), "1200k"),
    "360p-4.3": Preset((480, 360), "600k"),
    "360p-16.9": Preset((640, 360), "700k"),
    "320x240": Preset((320, 240), "400k", "96k"),
    "web": Preset((1280, 720), "2M"),
    "hls400k": Preset((416, 234), "400k", "64k", hls=True),
    "hls600k": Preset((640, 360), "600k", "96k", hls=True),
    "hls1M": Preset((768, 432), "1M", hls=True),
    "hls1.5M": Preset((960, 540), "1500k", hls=True),
    "hls2M": Preset((1280, 720), "2M", "160k", hls=True),
}


def preset(name: str) -> Preset:
    """A preset by CT's name, with or without ``-generic`` (``720p-generic`` is ``720p``)."""
    key = name.strip().removesuffix(".json").removesuffix("-generic")
    if key not in PRESETS:
        raise ActivityError(
            Reason.INVALID_OUTPUT_SPEC,
            f"unknown preset {name!r}; known: {', '.join(f'{k}-generic' for k in PRESETS)}",
        )
    return PRESETS[key]
