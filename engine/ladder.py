"""The ABR ladder of an ADAPTIVE output: which renditions, at which sizes and bitrates.

A rung is named by its picture's short side (``720p`` is 1280x720 for a landscape input, 720x1280
for a portrait one). The default ladder is every rung of :data:`RUNGS` the input can fill (none
above the input's short side; an input smaller than the smallest rung gets one rung at its own
size). Bitrates start from the table, for 16:9 pictures at 30 frames per second, and are scaled:

* by the rendition's real pixels against the table's picture, to the power 0.75 (a 4:3 or
  cropped picture of the same height has fewer pixels; bits per pixel fall as pictures grow);
* by the frame rate against 30, to the power 0.5, clamped to [0.75, 1.5] (60 fps needs about
  1.4x the bits of 30 fps, not 2x: consecutive frames differ less).

The same scaling gives a preset's bitrate when its rendition is smaller than the preset's box
(a 720p preset on a 360p input): :func:`fitted_bitrate`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from engine.errors import ActivityError, Reason
from engine.media import even

# (short side, H.264 bitrate in bit/s at 16:9 and 30 fps): close to the ladders Apple's HLS
# authoring spec and the big platforms publish.
RUNGS: tuple[tuple[int, int], ...] = (
    (2160, 14_000_000),
    (1440, 8_000_000),
    (1080, 5_000_000),
    (720, 2_800_000),
    (480, 1_200_000),
    (360, 700_000),
    (240, 400_000),
)
MAX_RUNGS = 8
PEAK_RATIO = 1.5  # every rung's video is capped (VBV) at this multiple of its bitrate
PIXEL_EXPONENT = 0.75
RATE_EXPONENT = 0.5
RATE_FACTOR_RANGE = (0.75, 1.5)
REFERENCE_RATE = 30
SMALLEST_SIDE = 64
MAX_SIDE = 8192  # an upscaled rung of a very narrow input stops here, with a clear error


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder: its name, picture size and video bitrate."""

    name: str
    width: int
    height: int
    video_bitrate: int


def _table_bitrate(short_side: int) -> int:
    """The table's bitrate for a 16:9 picture of ``short_side``, interpolated between rungs by the
    pixel rule (a 600p rung sits between 480p and 720p)."""
    above = min((r for r in RUNGS if r[0] >= short_side), default=RUNGS[0])
    return round(above[1] * float((short_side / above[0]) ** (2 * PIXEL_EXPONENT)))


def scaled_bitrate(reference: int, reference_pixels: int, pixels: int, rate: Fraction | None) -> int:
    """``reference`` bit/s for ``reference_pixels`` at 30 fps, scaled to ``pixels`` at ``rate``."""
    low, high = RATE_FACTOR_RANGE
    motion = min(high, max(low, (float(rate) / REFERENCE_RATE) ** RATE_EXPONENT)) if rate else 1.0
    return round(reference * float((pixels / reference_pixels) ** PIXEL_EXPONENT) * motion)


def fitted_bitrate(bitrate: int, box: tuple[int, int], size: tuple[int, int]) -> int:
    """A preset's ``bitrate`` for its ``box``, for a rendition of ``size`` that is smaller (a
    rendition fitted inside the box, not upscaled); unchanged when it fills the box."""
    box_pixels, pixels = box[0] * box[1], size[0] * size[1]
    return bitrate if pixels >= box_pixels else scaled_bitrate(bitrate, box_pixels, pixels, None)


def _size(source: tuple[int, int], short_side: int) -> tuple[int, int]:
    width, height = source
    scale = short_side / min(width, height)
    return even(width * scale), even(height * scale)


def choose(
    source: tuple[int, int],
    rate: Fraction,
    explicit: Sequence[tuple[int, int | None]] | None = None,
    *,
    allow_upscale: bool = False,
) -> list[Rung]:
    """The ladder for an input of ``source`` (display width, height) at ``rate`` frames per second,
    highest rung first. ``explicit``: (short side, bitrate or None) rungs asked for; those above
    the input are dropped unless ``allow_upscale``."""
    width, height = source
    if width < 2 or height < 2:
        raise ActivityError(
            Reason.CONVERSION_TYPE_ERROR, f"a {width}x{height} picture is too small for a video output"
        )
    input_side = min(width, height)
    wanted = list(explicit) if explicit else [(side, None) for side, _ in RUNGS]
    for side, _ in wanted:
        if not SMALLEST_SIDE <= side <= RUNGS[0][0]:
            raise ActivityError(
                Reason.INVALID_OUTPUT_SPEC,
                f"a rung's height must be between {SMALLEST_SIDE} and {RUNGS[0][0]}, not {side}",
            )
    if len({side for side, _ in wanted}) < len(wanted):
        raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "a ladder names each height once")
    fitting = {side: bitrate for side, bitrate in wanted if allow_upscale or side <= input_side}
    if not fitting:
        # Nothing fits: one rung at the input's own size, with the lowest rung's bitrate if given.
        given = next((bitrate for _, bitrate in sorted(wanted) if bitrate), None) if explicit else None
        own = (max(2, width // 2 * 2), max(2, height // 2 * 2))  # even, never above the input
        return [Rung(f"{min(own)}p", own[0], own[1], given or _bitrate(min(own), own, rate))]
    rungs = []
    for side in sorted(fitting, reverse=True)[:MAX_RUNGS]:
        size = _size(source, side)
        if max(size) > MAX_SIDE:
            raise ActivityError(
                Reason.INVALID_OUTPUT_SPEC,
                f"rung {side}p of a {width}x{height} input would be {size[0]}x{size[1]}: "
                f"over {MAX_SIDE} pixels a side",
            )
        rungs.append(Rung(f"{side}p", size[0], size[1], fitting[side] or _bitrate(side, size, rate)))
    return rungs


def _bitrate(side: int, size: tuple[int, int], rate: Fraction) -> int:
    """The table's bitrate for a rung of ``side`` at ``size`` and ``rate``."""
    return scaled_bitrate(_table_bitrate(side), even(side * 16 / 9) * side, size[0] * size[1], rate)
