"""Stand-in for DemeterAI's Celery app (`celery -A app.celery_app worker`): one task that reports the GPU it sees."""

from __future__ import annotations

import os

from celery import Celery

celery_app = Celery("demeterai", broker=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
celery_app.conf.broker_connection_retry_on_startup = True


@celery_app.task(name="app.celery_app.visible_gpus")
def visible_gpus() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "")
