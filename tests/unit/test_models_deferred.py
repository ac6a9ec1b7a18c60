"""Every pydantic model of the functions and the engine is built at its first use, not at import
(functions.shared.models.Model): a cold start builds only what its first request needs, and a
SnapStart priming builds them all (build_models)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# In a fresh interpreter (this one's tests have used the models): import every module of the
# functions and the engine (each handler, and what they import only at their first use), then list
# each model class of ours, whether it derives from Model and whether its validator is built;
# again after build_models.
SURVEY = """
import importlib, json, pkgutil
import pydantic
from functions.shared.models import Model, build_models
for package in ("functions", "engine"):
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(module.name)
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
def models():
    return sorted(
        [cls.__module__ + "." + cls.__qualname__, issubclass(cls, Model), cls.__pydantic_complete__]
        for cls in set(subclasses(pydantic.BaseModel))
        if cls is not Model and cls.__module__.split(".")[0] in ("functions", "engine")
    )
imported = models()
unbuilt = build_models()
print(json.dumps({"imported": imported, "unbuilt": unbuilt, "primed": models()}))
"""
# A model whose annotation names something only build_models' own frame holds is reported, not
# built from that frame's locals, as its first use would not be.
UNRESOLVED = """
from functions.shared.models import Model, build_models
class Holder(Model):
    field: "model"
print(build_models())
"""


def run(script: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"POWERTOOLS_SERVICE_NAME": "test", "AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()[-1]


def survey() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run(SURVEY))
    return result


def test_no_model_is_built_when_the_modules_are_imported_and_every_one_when_primed():
    found = survey()
    models = found["imported"]
    assert len(models) > 50  # the API's, the domain's, the protocol's, the engine's, the settings
    assert "engine.settings.EngineSettings" in [name for name, _, _ in models]
    assert [name for name, derived, _ in models if not derived] == []
    assert [name for name, _, built in models if built] == []
    # build_models (a SnapStart priming) leaves none for a restored environment's first request.
    assert found["unbuilt"] == []
    assert [name for name, _, built in found["primed"] if not built] == []


def test_a_name_that_does_not_resolve_is_reported_by_build_models():
    assert run(UNRESOLVED) == "['__main__.Holder']"
