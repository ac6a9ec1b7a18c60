"""The base of every pydantic model of the functions and the engine."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validator and serializer are built at its first use, not when its
    class is defined: a cold start builds only the models its first request needs (a ``GET`` of a
    job builds neither the submit, upload and webhook models nor the settings of other functions).
    A subclass's ``model_config`` is merged with this one."""

    model_config = ConfigDict(defer_build=True)


def defined_models() -> list[type[Model]]:
    """Every model class derived from :class:`Model` defined so far, subclasses of subclasses too."""
    found: list[type[Model]] = []
    pending = list(Model.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        found.append(model)
    return found


def build_models() -> list[str]:
    """Build every model class defined so far that is not built yet, as a SnapStart priming does
    before the snapshot (an environment restored from it then builds none on a request). Returns
    the names of those that could not be built (a forward reference that does not resolve), which
    their first use will report."""
    failed = []
    for model in defined_models():
        if model.__pydantic_complete__:
            continue
        try:
            # Names resolve in the model's module and where its class was defined, never in this
            # frame (pydantic's default also reads its caller's locals: `model` would resolve).
            model.model_rebuild(_parent_namespace_depth=0)
        except Exception:  # noqa: BLE001 - reported by name; the model raises it again at its use
            failed.append(f"{model.__module__}.{model.__qualname__}")
    return sorted(failed)
