"""The bundled sample stream is what the generator writes (they cannot drift apart)."""

from local.samples import SAMPLE, sample_lines


def test_bundled_sample_matches_its_generator():
    assert SAMPLE.read_text(encoding="utf-8").splitlines() == sample_lines()
