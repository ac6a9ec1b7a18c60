"""The base of every pydantic model of the functions and the engine."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validator and serializer are built at its first use, not when its
    class is defined: a cold start builds only the models its first request needs (a ``GET`` of a
    job builds neither the submit, upload and webhook models nor the settings of other functions).
    A subclass's ``model_config`` is merged with this one."""

    model_config = ConfigDict(defer_build=True)
