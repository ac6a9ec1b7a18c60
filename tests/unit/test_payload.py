"""The CT job's two views (functions.jobs.payload) describe one schema."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import BaseModel

from functions.jobs.payload import CONVERSIONS, VIEWS, InputType, JobPayload, OutputType, StrictJobPayload


@pytest.mark.parametrize(("strict", "tolerant"), VIEWS, ids=lambda model: model.__name__)
def test_the_strict_and_the_tolerant_view_name_the_same_fields(strict, tolerant):
    assert set(strict.model_fields) == set(tolerant.model_fields)


def test_every_strict_part_has_its_tolerant_view():
    nested = {
        model
        for strict, _ in VIEWS
        for field in strict.model_fields.values()
        for model in _models_in(field.annotation)
    }
    assert nested <= {strict for strict, _ in VIEWS}


def _models_in(annotation: object) -> set[type]:
    """The pydantic models an annotation names (``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    return {model for part in get_args(annotation) for model in _models_in(part)}


def test_the_conversions_cover_every_input_and_output_type():
    assert set(CONVERSIONS) == set(get_args(InputType))
    assert set().union(*CONVERSIONS.values()) == set(get_args(OutputType))


def test_a_job_the_strict_view_accepts_reads_the_same_through_the_tolerant_view():
    thumbs = {"mode": "intervals", "intervals": 4}
    job = {
        "input_asset": {"type": "VIDEO", "bucket": "in-bucket", "file": "/in/clip.mp4"},
        "output_assets": [
            {"type": "VIDEO", "bucket": "out-bucket", "file": "/out/a.mp4", "preset": "720p", "quality": 80},
            {"type": "THUMB", "bucket": "out-bucket", "file": "/out/t.jpg", **thumbs},
        ],
    }
    strict = StrictJobPayload.model_validate(job)
    tolerant = JobPayload.model_validate(job)
    assert strict.model_dump(exclude_none=True) == tolerant.model_dump(exclude_none=True) == job


def test_the_extensions_outputs_name_their_main_file_and_no_two_outputs_write_one_file():
    """The rule the schema states too (the JSON Schema's allOf on OutputAssetIn), and one it
    cannot state (two outputs' destinations)."""
    source = {"type": "VIDEO", "bucket": "media", "file": "in.mp4"}

    def accepted(*outputs: dict[str, object]) -> bool:
        try:
            StrictJobPayload.model_validate({"input_asset": source, "output_assets": list(outputs)})
        except ValueError:
            return False
        return True

    adaptive = {"type": "ADAPTIVE", "bucket": "media", "file": "out/abr/video.m3u8"}
    board = {"type": "STORYBOARD", "bucket": "media", "file": "out/board/b.VTT"}
    assert accepted(adaptive, board)
    assert not accepted({**adaptive, "file": "out/abr/video.mp4"})
    assert not accepted({**board, "file": "out/board/b.jpg"})
    assert not accepted(adaptive, {"type": "VIDEO", "bucket": "media", "file": "out/abr/video.m3u8"})
    rules = StrictJobPayload.model_json_schema()["$defs"]["OutputAssetIn"]["allOf"]
    patterns = [rule["anyOf"][1]["properties"]["file"]["pattern"] for rule in rules]
    assert patterns == [r"\.[mM]3[uU]8$", r"\.[vV][tT][tT]$"]


_OUTPUT = {"type": "VIDEO", "bucket": "media", "file": "a.mp4", "preset": "720p"}


def _job(source: dict[str, object], output: dict[str, object] = _OUTPUT) -> StrictJobPayload:
    return StrictJobPayload.model_validate({"input_asset": source, "output_assets": [output]})


@pytest.mark.parametrize(
    "space", ["\x85", "\ufeff", "\xa0", "\u2028", "\u3000", " ", "\x7f", "\x9b", "\u202e", "\u200b", "\u2066"]
)
def test_a_url_with_a_space_or_a_control_of_any_reading_is_refused(space):
    with pytest.raises(ValueError, match=r"input_asset\.http"):
        _job({"type": "VIDEO", "http": f"https://example.com/a{space}b.mp4"})
    assert _job({"type": "VIDEO", "http": "https://example.com/caf\u00e9.mp4"}).input_asset.http


@pytest.mark.parametrize("size", ["\u0663x\u0664", "1280x\u0667\u0662\u0660", "\uff11x2"])
def test_sizes_take_ascii_digits_only(size):
    """What the published schema means to a browser (ECMAScript's ASCII \\d), the API enforces."""
    source = {"type": "VIDEO", "bucket": "media", "file": "a.mp4"}
    with pytest.raises(ValueError, match="size"):
        _job(source, {**_OUTPUT, "size": size})
    assert _job(source, {**_OUTPUT, "size": "1280x720"}).output_assets[0].size == "1280x720"
