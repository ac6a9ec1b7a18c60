"""docs/openapi.json is the schema the API serves (run `make openapi` after changing the API)."""

import json
import re

from local.openapi import OPENAPI, render


def test_the_published_schema_is_current():
    assert OPENAPI.read_text(encoding="utf-8") == render()


def test_every_reference_in_the_schema_resolves():
    """Generators (the console's typed client among them) refuse a schema with a dangling $ref."""
    schema = json.loads(render())
    references = set(re.findall(r'"\$ref": "#/([^"]+)"', render()))
    assert references
    for reference in references:
        node = schema
        for part in reference.split("/"):
            assert part in node, f"#/{reference} does not resolve"
            node = node[part]
