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


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_no_pattern_uses_a_class_the_schemas_readers_read_differently():
    r"""The API checks patterns with Rust's regex (pydantic-core), test generators with Python's re,
    browsers and ajv with ECMAScript's: "\d" takes Arabic-Indic digits in the first two and not in
    the third, "\s" takes U+0085 in the first two and U+FEFF in the third. A schema-valid request
    drawn from one reading was refused by another (a CI run's schemathesis failure)."""
    patterns = set(_patterns(json.loads(render())))
    assert len(patterns) > 10
    for pattern in patterns:
        escapes = set(re.findall(r"(?<!\\)(?:\\\\)*\\([dDsSwWbB])", pattern))
        assert not escapes, f"{pattern!r} uses the classes {sorted(escapes)}"
