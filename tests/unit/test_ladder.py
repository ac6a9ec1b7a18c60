"""The ABR ladder chosen from the input (engine.ladder): rungs, sizes, bitrates."""

from __future__ import annotations

from fractions import Fraction

import pytest

from engine import ladder
from engine.errors import ActivityError, Reason
from engine.presets import preset


def names(rungs: list[ladder.Rung]) -> list[str]:
    return [rung.name for rung in rungs]


def test_no_rung_is_above_the_input_and_a_1080p_input_gets_the_tables_rungs_below_it():
    rungs = ladder.choose((1920, 1080), Fraction(30))
    assert names(rungs) == ["1080p", "720p", "480p", "360p", "240p"]
    assert [(r.width, r.height) for r in rungs][:2] == [(1920, 1080), (1280, 720)]
    assert [r.video_bitrate for r in rungs] == sorted((r.video_bitrate for r in rungs), reverse=True)
    assert rungs[0].video_bitrate == 5_000_000  # the table's own picture and rate: the table's figure


def test_a_portrait_input_is_laddered_by_its_short_side():
    rungs = ladder.choose((720, 1280), Fraction(30))
    assert names(rungs) == ["720p", "480p", "360p", "240p"]
    assert (rungs[0].width, rungs[0].height) == (720, 1280)


def test_an_input_smaller_than_every_rung_gets_one_rung_at_its_own_size():
    (rung,) = ladder.choose((200, 150), Fraction(25))
    assert (rung.name, rung.width, rung.height) == ("150p", 200, 150)
    assert 0 < rung.video_bitrate < 400_000


def test_bitrates_scale_with_frame_rate_and_real_pixels():
    at_30 = ladder.choose((1280, 720), Fraction(30))[0].video_bitrate
    at_60 = ladder.choose((1280, 720), Fraction(60))[0].video_bitrate
    at_24 = ladder.choose((1280, 720), Fraction(24))[0].video_bitrate
    assert at_60 == round(at_30 * 2**0.5) and at_24 < at_30 < at_60
    four_three = ladder.choose((960, 720), Fraction(30))[0]  # 4:3: 3/4 of the 16:9 picture's pixels
    assert four_three.video_bitrate == round(at_30 * 0.75**0.75)


def test_an_explicit_ladder_keeps_given_bitrates_and_drops_rungs_above_the_input():
    rungs = ladder.choose((854, 480), Fraction(25), [(720, 3_000_000), (360, 500_000), (240, None)])
    assert names(rungs) == ["360p", "240p"] and rungs[0].video_bitrate == 500_000
    upscaled = ladder.choose((854, 480), Fraction(25), [(720, 3_000_000)], allow_upscale=True)
    assert (upscaled[0].width, upscaled[0].height, upscaled[0].video_bitrate) == (1280, 720, 3_000_000)
    with pytest.raises(ActivityError) as refused:
        ladder.choose((854, 480), Fraction(25), [(4320, None)])
    assert refused.value.reason is Reason.INVALID_OUTPUT_SPEC


def test_a_preset_rendition_smaller_than_its_box_gets_the_bitrate_of_its_size():
    chosen = preset("720p")
    # The case: a 720p preset on a 360p input kept 2.5 Mb/s; 640x360 is a quarter of the box.
    assert ladder.fitted_bitrate(2_500_000, chosen.size, (640, 360)) == round(2_500_000 * 0.25**0.75)
    assert ladder.fitted_bitrate(2_500_000, chosen.size, (1280, 720)) == 2_500_000


def test_odd_ladders_are_refused_or_kept_within_the_input_with_clear_reasons():
    with pytest.raises(ActivityError, match="each height once"):
        ladder.choose((1280, 720), Fraction(30), [(360, 500_000), (360, 2_000_000)])
    # Every rung given is above the input: one rung at the input's size, the lowest rung's bitrate.
    (own,) = ladder.choose((854, 480), Fraction(25), [(720, 3_000_000), (1080, None)])
    assert (own.width, own.height, own.video_bitrate) == (854, 480, 3_000_000)
    (narrow,) = ladder.choose((3, 200), Fraction(25))
    assert (narrow.width, narrow.height) == (2, 200)  # even, never above the input
    with pytest.raises(ActivityError, match="over 8192 pixels a side") as huge:
        ladder.choose((8, 200), Fraction(25), [(720, None)], allow_upscale=True)
    assert huge.value.reason is Reason.INVALID_OUTPUT_SPEC
    with pytest.raises(ActivityError, match="1x64 picture is too small"):
        ladder.choose((1, 64), Fraction(25))
