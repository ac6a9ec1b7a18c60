"""An adaptive package's manifests, written from what was really produced: every rendition's
segments are measured (bytes over duration), so a variant's ``BANDWIDTH`` is its peak segment
bitrate and ``AVERAGE-BANDWIDTH`` its average, as the HLS spec (RFC 8216, 4.3.4.2) defines them,
with its audio rendition's added. The codec strings come from the encoded parameter sets.

* the HLS master playlist: one ``EXT-X-STREAM-INF`` per video rendition (``BANDWIDTH``,
  ``AVERAGE-BANDWIDTH``, ``RESOLUTION``, ``CODECS``, ``FRAME-RATE``) and the audio as an
  ``EXT-X-MEDIA`` rendition group;
* the DASH manifest (CMAF packages): a static MPD whose representations point at the same
  init and media segments as the HLS playlists, with their exact timelines."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import av

from engine.errors import ActivityError, Reason

AUDIO_GROUP = "audio"
DASH_NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"
DASH_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
DASH_TIMESCALE = 1000
_AAC_OBJECT_TYPES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29}


@dataclass(frozen=True)
class Segment:
    path: Path
    duration: float
    size: int

    @property
    def bitrate(self) -> float:
        return self.size * 8 / self.duration if self.duration > 0 else 0.0


@dataclass(frozen=True)
class Rendition:
    """One media playlist of the package and what its segments hold."""

    name: str
    playlist: Path
    init: Path | None
    segments: tuple[Segment, ...]
    kind: str  # "video" or "audio"
    codecs: str
    width: int = 0
    height: int = 0
    frame_rate: Fraction | None = None
    channels: int = 0
    sample_rate: int = 0

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def peak_bitrate(self) -> int:
        return math.ceil(max((s.bitrate for s in self.segments), default=0.0))

    @property
    def average_bitrate(self) -> int:
        duration = self.duration
        return math.ceil(sum(s.size for s in self.segments) * 8 / duration) if duration > 0 else 0

    def files(self) -> list[Path]:
        """The playlist, its init segment, its segments: the order players read them in."""
        return [self.playlist, *([self.init] if self.init else []), *(s.path for s in self.segments)]

    def record(self) -> dict[str, Any]:
        """What the manifests need of this rendition, as JSON (a fan-out task hands it on)."""
        rate = self.frame_rate
        return {
            "name": self.name,
            "playlist": self.playlist.name,
            "init": self.init.name if self.init else None,
            "segments": [[s.path.name, s.duration, s.size] for s in self.segments],
            "kind": self.kind,
            "codecs": self.codecs,
            "width": self.width,
            "height": self.height,
            "frameRate": f"{rate.numerator}/{rate.denominator}" if rate else None,
            "channels": self.channels,
            "sampleRate": self.sample_rate,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], folder: Path) -> Rendition:
        """The rendition a record describes, its files named in ``folder`` (they need not be there)."""
        return cls(
            record["name"],
            folder / record["playlist"],
            folder / record["init"] if record["init"] else None,
            tuple(
                Segment(folder / name, float(duration), int(size))
                for name, duration, size in record["segments"]
            ),
            record["kind"],
            record["codecs"],
            width=int(record["width"]),
            height=int(record["height"]),
            frame_rate=Fraction(record["frameRate"]) if record["frameRate"] else None,
            channels=int(record["channels"]),
            sample_rate=int(record["sampleRate"]),
        )


def listed_files(playlist: Path) -> tuple[str | None, list[tuple[str, float]]]:
    """The init segment's name (CMAF) and each segment's (name, duration) that a media playlist
    this engine wrote (FFmpeg's HLS muxer) lists."""
    segments: list[tuple[str, float]] = []
    init = None
    duration: float | None = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uri = re.search(r'URI="([^"]+)"', line)
            init = uri[1] if uri else None
        elif line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    if not segments:
        raise ActivityError(Reason.TRANSCODE_FAIL, f"{playlist.name} lists no segment")
    return init, segments


def read_rendition(name: str, playlist: Path, *, frame_rate: Fraction | None) -> Rendition:
    """A media playlist this engine wrote, beside its files, and what its segments hold."""
    init_name, listed = listed_files(playlist)
    folder = playlist.parent
    segments = tuple(
        Segment(folder / file, duration, (folder / file).stat().st_size) for file, duration in listed
    )
    init = folder / init_name if init_name else None
    first = init or segments[0].path
    with av.open(str(first)) as container:
        stream: Any = container.streams[0]
        context = stream.codec_context
        if stream.type == "video":
            return Rendition(
                name,
                playlist,
                init,
                segments,
                "video",
                _avc_codecs(bytes(context.extradata or b"") + first.read_bytes()[:65536]),
                width=context.width,
                height=context.height,
                frame_rate=frame_rate,
            )
        return Rendition(
            name,
            playlist,
            init,
            segments,
            "audio",
            f"mp4a.40.{_AAC_OBJECT_TYPES.get(str(context.profile), 2)}",
            channels=context.channels,
            sample_rate=context.sample_rate,
        )


def describe(master: str, videos: list[Rendition], audio: Rendition | None, size: int) -> dict[str, Any]:
    """An adaptive package as a probe document (ffprobe's field names): a stream per rendition
    with its measured average bitrate; the format's ``bit_rate`` the highest variant's (its video
    and the audio), its ``size`` every file's bytes (``size``)."""
    renditions = [*sorted(videos, key=lambda v: -v.average_bitrate), *([audio] if audio else [])]
    streams: list[dict[str, Any]] = []
    for index, rendition in enumerate(renditions):
        stream: dict[str, Any] = {
            "index": index,
            "codec_type": rendition.kind,
            "codec_name": "h264" if rendition.kind == "video" else "aac",
            "codec_tag_string": rendition.codecs,
            "bit_rate": str(rendition.average_bitrate),
            "duration": f"{rendition.duration:.6f}",
            "tags": {"variant": rendition.playlist.name},
        }
        if rendition.kind == "video":
            rate = rendition.frame_rate
            stream |= {"width": rendition.width, "height": rendition.height}
            if rate:
                stream["avg_frame_rate"] = stream["r_frame_rate"] = f"{rate.numerator}/{rate.denominator}"
        else:
            stream |= {"channels": rendition.channels, "sample_rate": str(rendition.sample_rate)}
        streams.append(stream)
    duration = max(r.duration for r in renditions)
    top = max((v.average_bitrate for v in videos), default=0) + (audio.average_bitrate if audio else 0)
    document_format = {
        "filename": master,
        "nb_streams": len(streams),
        "format_name": "hls",
        "format_long_name": "Apple HTTP Live Streaming",
        "duration": f"{duration:.6f}",
        "size": str(size),
        "bit_rate": str(top),
    }
    mime = "application/vnd.apple.mpegurl"
    return {"streams": streams, "format": document_format, "mime": mime, "type": "video"}


def _avc_codecs(data: bytes) -> str:
    """RFC 6381's ``avc1.PPCCLL`` from an avcC record or, in MPEG-TS, the first SPS in the stream."""
    if data[:1] == b"\x01" and len(data) >= 4:
        return f"avc1.{data[1:4].hex()}"
    for match in re.finditer(b"\x00\x00\x01", data):
        header = match.end()
        if header + 3 < len(data) and data[header] & 0x1F == 7:  # a sequence parameter set
            return f"avc1.{data[header + 1 : header + 4].hex()}"
    raise ActivityError(Reason.TRANSCODE_FAIL, "the rendition's H.264 parameter sets were not found")


def _variant_figures(video: Rendition, audio: Rendition | None) -> tuple[int, int]:
    peak = video.peak_bitrate + (audio.peak_bitrate if audio else 0)
    average = video.average_bitrate + (audio.average_bitrate if audio else 0)
    return peak, average


def master_playlist(videos: list[Rendition], audio: Rendition | None) -> str:
    """The HLS master playlist: the variants from the lowest bandwidth up, the audio as a group."""
    # Version 6 for CMAF's EXT-X-MAP in the media playlists; 3 (as widely played as HLS gets) for TS.
    version = 6 if any(video.init for video in videos) else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
            f'CHANNELS="{audio.channels or 2}",URI="{audio.playlist.name}"'
        )
    for video in sorted(videos, key=lambda v: _variant_figures(v, audio)):
        peak, average = _variant_figures(video, audio)
        codecs = ",".join([video.codecs, *([audio.codecs] if audio else [])])
        attributes = [
            f"BANDWIDTH={peak}",
            f"AVERAGE-BANDWIDTH={average}",
            f"RESOLUTION={video.width}x{video.height}",
            f'CODECS="{codecs}"',
        ]
        if video.frame_rate:
            attributes.append(f"FRAME-RATE={float(video.frame_rate):.3f}")
        if audio is not None:
            attributes.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", video.playlist.name]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _representation(
    parent: ElementTree.Element, rendition: Rendition, **attributes: str
) -> ElementTree.Element:
    if rendition.init is None:
        raise ActivityError(Reason.TRANSCODE_FAIL, "a DASH representation needs CMAF segments")
    element = ElementTree.SubElement(
        parent,
        "Representation",
        {
            "id": rendition.name,
            "bandwidth": str(rendition.peak_bitrate),
            "codecs": rendition.codecs,
            **attributes,
        },
    )
    template = ElementTree.SubElement(
        element,
        "SegmentTemplate",
        timescale=str(DASH_TIMESCALE),
        initialization=rendition.init.name,
        media=f"{rendition.playlist.stem}_$Number%05d$.m4s",
        startNumber="0",
    )
    timeline = ElementTree.SubElement(template, "SegmentTimeline")
    # Each boundary rounded once, so the durations add up to the whole without drift.
    elapsed = 0.0
    for segment in rendition.segments:
        start = round(elapsed * DASH_TIMESCALE)
        elapsed += segment.duration
        ElementTree.SubElement(timeline, "S", t=str(start), d=str(round(elapsed * DASH_TIMESCALE) - start))
    return element


def dash_manifest(videos: list[Rendition], audio: Rendition | None) -> str:
    """A static DASH MPD over the CMAF segments the HLS playlists list."""
    duration = max(r.duration for r in [*videos, *([audio] if audio else [])])
    mpd = ElementTree.Element(
        "MPD",
        xmlns=DASH_NAMESPACE,
        profiles=DASH_PROFILE,
        type="static",
        mediaPresentationDuration=_duration(duration),
        minBufferTime="PT6S",
    )
    period = ElementTree.SubElement(mpd, "Period", id="0", start="PT0S")
    adaptation = ElementTree.SubElement(
        period,
        "AdaptationSet",
        id="0",
        contentType="video",
        mimeType="video/mp4",
        segmentAlignment="true",
        startWithSAP="1",
    )
    for video in sorted(videos, key=lambda v: v.peak_bitrate):
        rate = video.frame_rate
        _representation(
            adaptation,
            video,
            width=str(video.width),
            height=str(video.height),
            **({"frameRate": f"{rate.numerator}/{rate.denominator}"} if rate else {}),
        )
    if audio is not None:
        sound = ElementTree.SubElement(
            period,
            "AdaptationSet",
            id="1",
            contentType="audio",
            mimeType="audio/mp4",
            segmentAlignment="true",
            startWithSAP="1",
        )
        representation = _representation(sound, audio, audioSamplingRate=str(audio.sample_rate))
        channels = ElementTree.Element(
            "AudioChannelConfiguration",
            schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011",
            value=str(audio.channels or 2),
        )
        representation.insert(0, channels)  # the schema's order: before the SegmentTemplate
    ElementTree.indent(mpd)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(mpd, encoding="unicode") + "\n"
