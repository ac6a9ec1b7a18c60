"""Media made here, not downloaded: test patterns with a tone, encoded with FFmpeg's libraries
(PyAV). Used by the tests, the benchmarks and the local stack's sample job."""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.filter


def _frames(chain: list[tuple[str, str | None]]) -> Iterator[Any]:
    graph = av.filter.Graph()
    nodes = [graph.add(name, args) if args is not None else graph.add(name) for name, args in chain]
    for upstream, downstream in itertools.pairwise(nodes):
        upstream.link_to(downstream)
    graph.configure()
    while True:
        try:
            yield nodes[-1].pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            return


def variable_rate_video(path: Path, *, seconds: float = 3.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A video-only H.264 MP4 whose frames come 16 to 100 ms apart, as phones record in low light
    (a variable frame rate: its guessed rate is far above its average)."""
    gaps = itertools.cycle([16, 17, 100, 33, 16, 50, 17, 83])
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=60, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        at = 0
        pattern = f"size={size[0]}x{size[1]}:rate=60:duration={seconds}"
        for frame in _frames([("testsrc2", pattern), ("format", "yuv420p"), ("buffersink", None)]):
            if at >= seconds * 1000:
                break
            frame.pts, frame.time_base = at, Fraction(1, 1000)
            out.mux(stream.encode(frame))
            at += next(gaps)
        out.mux(stream.encode(None))
    return path


def video(
    path: Path,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    rate: int = 25,
    audio: bool = True,
    rotation: int = 0,
    preset: str = "ultrafast",
    bitrate: int | None = None,
    keyframe_every: int | None = None,
) -> Path:
    """An H.264 (+ AAC) MP4: FFmpeg's testsrc2 pattern and a 440 Hz tone. ``rotation`` sets the
    display matrix as phones do for portrait clips; ``keyframe_every`` (frames) sets the GOP."""
    options = {"preset": preset, **({"g": str(keyframe_every)} if keyframe_every else {})}
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if bitrate:
            stream.bit_rate = bitrate
        if rotation:
            stream.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=44_100, layout="stereo") if audio else None
        pattern = f"size={size[0]}x{size[1]}:rate={rate}:duration={seconds}"
        for frame in _frames([("testsrc2", pattern), ("format", "yuv420p"), ("buffersink", None)]):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            _mux_tone(out, sound, seconds)
    return path


def _mux_tone(out: Any, sound: Any, seconds: float) -> None:
    tone = f"frequency=440:sample_rate=44100:duration={seconds}"
    chain = [("sine", tone), ("aformat", "sample_fmts=fltp:channel_layouts=stereo"), ("abuffersink", None)]
    for frame in _frames(chain):
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def audio_only(path: Path, *, seconds: float = 2.0) -> Path:
    """An AAC tone in an M4A."""
    with av.open(str(path), "w", format="ipod") as out:
        _mux_tone(out, out.add_stream("aac", rate=44_100, layout="stereo"), seconds)
    return path


def image(path: Path, *, size: tuple[int, int] = (640, 480)) -> Path:
    """A still (JPEG or PNG by extension) of the test pattern."""
    frame = next(_frames([("testsrc2", f"size={size[0]}x{size[1]}:rate=1:duration=1"), ("buffersink", None)]))
    with av.open(str(path), "w", format="image2") as out:
        codec = "png" if path.suffix.lower() == ".png" else "mjpeg"
        stream: Any = out.add_stream(codec, rate=1)
        stream.width, stream.height = size
        stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
        out.mux(stream.encode(frame.reformat(format=stream.pix_fmt)))
        out.mux(stream.encode(None))
    return path


def corrupt(path: Path, *, size: int = 64 * 1024) -> Path:
    """Bytes that look like nothing FFmpeg can read (deterministic)."""
    pattern = bytes((i * 7919 + 13) % 251 for i in range(4096))
    path.write_bytes((pattern * (size // len(pattern) + 1))[:size])
    return path


def pixel_bomb(path: Path, *, side: int = 16000) -> Path:
    """A PNG that declares ``side`` x ``side`` grey pixels in a few hundred KB (zeros compress a
    thousandfold): decoding it takes ``side``**2 bytes and more. Written a row at a time."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte "none", then the row's pixels
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path
