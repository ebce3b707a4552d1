"""Settings from the environment.

Read on every call (it costs microseconds), so tests and operators can change
the environment without re-importing anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str
    models_dir: Path
    model_file: str
    data_dir: Path
    min_free_disk_mb: int
    broker_url: str
    result_backend: str
    warmup_s: float

    @property
    def model_path(self) -> Path:
        return self.models_dir / self.model_file


def get_settings() -> Settings:
    env = os.environ
    redis_url = env.get("REDIS_URL", "")
    return Settings(
        database_url=env.get("DATABASE_URL", ""),
        models_dir=Path(env.get("MODELS_DIR", "/app/models")),
        model_file=env.get("MODEL_FILE", "model.json"),
        data_dir=Path(env.get("DATA_DIR", "/app/data")),
        min_free_disk_mb=int(env.get("MIN_FREE_DISK_MB", "100")),
        broker_url=env.get("CELERY_BROKER_URL", redis_url),
        result_backend=env.get("CELERY_RESULT_BACKEND", redis_url),
        # Seconds /health answers 503 after the process starts, as an app that loads a model does.
        warmup_s=float(env.get("WARMUP_S", "0")),
    )
