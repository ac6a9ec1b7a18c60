"""docs/openapi.json is the schema the API serves (run `make openapi` after changing the API)."""

from local.openapi import OPENAPI, render


def test_the_published_schema_is_current():
    assert OPENAPI.read_text(encoding="utf-8") == render()
