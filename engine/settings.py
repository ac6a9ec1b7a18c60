"""The engine functions' settings, read once at cold start (infra.engine sets them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import ConfigDict, Field

from functions import env
from functions.shared.models import Model
from functions.shared.settings import host_list, load_settings

X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]
X264_PRESETS = get_args(X264Preset)


class EngineSettings(Model):
    model_config = ConfigDict(frozen=True)

    engine_table: str = Field(min_length=3)
    work_queue_url: str = Field(pattern=r"^https?://")
    input_queue_url: str | None = Field(default=None, pattern=r"^https?://")  # the commands' only
    work_bucket: str = Field(min_length=3)
    region: str | None = None
    span_seconds: float = Field(ge=2, le=3600)
    segment_after_seconds: float = Field(ge=0)
    max_input_bytes: int = Field(ge=1)
    max_input_pixels: int = Field(ge=1)
    max_input_seconds: float = Field(gt=0)
    download_seconds: float = Field(gt=0)
    encoder_preset: X264Preset = "medium"
    progress_seconds: float = Field(default=10.0, ge=0)
    allow_custom_cmd: bool = False
    trusted_url_hosts: frozenset[str] = frozenset()  # the local stack only: its own endpoints

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EngineSettings:
        names = {
            "engine_table": env.ENGINE_TABLE_NAME,
            "work_queue_url": env.WORK_QUEUE_URL,
            "input_queue_url": env.INPUT_QUEUE_URL,
            "work_bucket": env.WORK_BUCKET,
            "region": env.AWS_REGION,
            "span_seconds": env.SPAN_SECONDS,
            "segment_after_seconds": env.SEGMENT_AFTER_SECONDS,
            "max_input_bytes": env.MAX_INPUT_BYTES,
            "max_input_pixels": env.MAX_INPUT_PIXELS,
            "max_input_seconds": env.MAX_INPUT_SECONDS,
            "download_seconds": env.DOWNLOAD_SECONDS,
            "encoder_preset": env.ENCODER_PRESET,
            "progress_seconds": env.PROGRESS_SECONDS,
            "allow_custom_cmd": env.ALLOW_CUSTOM_CMD,
        }
        values: dict[str, object] = {key: environ[name] for key, name in names.items() if name in environ}
        values["trusted_url_hosts"] = host_list(environ.get(env.TRUSTED_URL_HOSTS, ""))
        return load_settings(cls, values)
