"""Every pydantic model of the functions and the engine is built at its first use, not at import
(functions.shared.models.Model): a cold start builds only what its first request needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = [
    "functions.api.handler",
    "functions.tracker.handler",
    "functions.notifier.handler",
    "functions.notifier.delivery",
    "functions.authorizer.handler",
    "functions.watchdog.handler",
    "engine.settings",
]
# In a fresh interpreter (this one's tests have used the models): import every handler, then list
# each model class of ours, whether it derives from Model and whether its validator is built.
SURVEY = """
import importlib, json, sys
import pydantic
from functions.shared.models import Model
for name in sys.argv[1:]:
    importlib.import_module(name)
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
print(json.dumps(sorted(
    [cls.__module__ + "." + cls.__qualname__, issubclass(cls, Model), cls.__pydantic_complete__]
    for cls in set(subclasses(pydantic.BaseModel))
    if cls.__module__.split(".")[0] in ("functions", "engine")
)))
"""


def survey() -> list[tuple[str, bool, bool]]:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", SURVEY, *HANDLERS],
        cwd=ROOT,
        env={"POWERTOOLS_SERVICE_NAME": "test", "AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(row) for row in json.loads(done.stdout.splitlines()[-1])]


def test_no_model_is_built_when_the_handlers_are_imported():
    models = survey()
    assert len(models) > 40  # the API's, the domain's, the protocol's, the settings
    assert [name for name, derived, _ in models if not derived] == []
    assert [name for name, _, built in models if built] == []
