"""Celery application of the reference backend: worker, beat and flower targets.

    celery -A app.worker:celery_app worker     runs predict_task and heartbeat
    celery -A app.worker:celery_app beat       sends heartbeat every BEAT_INTERVAL_S (60) seconds

The broker is CELERY_BROKER_URL, else REDIS_URL.
"""

from __future__ import annotations

import json
import os
import time
import typing as t

from celery import Celery

from .model import load_model
from .settings import get_settings

_settings = get_settings()

celery_app = Celery(
    "reference_backend",
    broker=_settings.broker_url or "redis://localhost:6379/0",
    backend=_settings.result_backend or None,
)
celery_app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    result_expires=3600,
    beat_schedule={
        "heartbeat": {"task": "app.worker.heartbeat", "schedule": float(os.environ.get("BEAT_INTERVAL_S", "60"))},
    },
)


@celery_app.task(name="app.worker.predict_async")
def predict_task(features: dict[str, float]) -> dict[str, t.Any]:
    model = load_model(get_settings().model_path)
    return {"model": model.name, "version": model.version, "score": model.predict(features)}


@celery_app.task(name="app.worker.heartbeat")
def heartbeat() -> dict[str, float]:
    """Record that beat and a worker are alive: DATA_DIR/heartbeat.json."""
    path = get_settings().data_dir / "heartbeat.json"
    record = {"at": time.time()}
    path.write_text(json.dumps(record), encoding="utf-8")
    return record
