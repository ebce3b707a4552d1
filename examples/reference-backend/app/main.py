"""The reference backend's HTTP API.

GET  /            service name and version
GET  /health      200 when every check passes, 503 otherwise (warm-up, database, model, disk)
POST /predict     score features with the model on the models volume
POST /predict/async   the same through Celery (needs a broker)
POST /upload      store a file on the data volume (uploads/)
WS   /ws          echo, for proxy tests
"""

from __future__ import annotations

import os
import tempfile
import time
import typing as t
from pathlib import Path

from fastapi import FastAPI, HTTPException, Response, UploadFile, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel

from . import __version__
from .health import check_database, check_disk, check_model
from .model import ModelError, load_model
from .settings import get_settings

CHUNK = 1024 * 1024
STARTED = time.monotonic()

app = FastAPI(title="aistack reference backend", version=__version__)


class PredictRequest(BaseModel):
    features: dict[str, float]


@app.get("/")
def root() -> dict[str, str]:
    return {"service": "aistack-reference-backend", "version": __version__}


# A plain function: FastAPI runs it in a worker thread, so a slow database
# never blocks the event loop.
@app.get("/health")
def health(response: Response) -> dict[str, t.Any]:
    settings = get_settings()
    left = settings.warmup_s - (time.monotonic() - STARTED)
    checks = {
        "warmup": {"status": "fail", "detail": f"warming up, {left:.0f} s left"} if left > 0 else {"status": "ok"},
        "database": check_database(settings.database_url),
        "model": check_model(settings.model_path),
        "disk": check_disk(settings.data_dir, settings.min_free_disk_mb),
    }
    healthy = all(check["status"] != "fail" for check in checks.values())
    response.status_code = status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ok" if healthy else "fail", "checks": checks}


@app.post("/predict")
def predict(request: PredictRequest) -> dict[str, t.Any]:
    try:
        model = load_model(get_settings().model_path)
    except ModelError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    try:
        score = model.predict(request.features)
    except KeyError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"missing features: {exc.args[0]}") from exc
    return {"model": model.name, "version": model.version, "score": score}


@app.post("/predict/async", status_code=status.HTTP_202_ACCEPTED)
def predict_async(request: PredictRequest) -> dict[str, str]:
    if not get_settings().broker_url:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no broker: set CELERY_BROKER_URL or REDIS_URL")
    from .worker import predict_task  # pylint: disable=import-outside-toplevel  # Celery only when used

    return {"task_id": predict_task.delay(request.features).id}


@app.post("/upload", status_code=status.HTTP_201_CREATED)
async def upload(file: UploadFile) -> dict[str, t.Any]:
    name = Path(file.filename or "").name
    if name in ("", ".", ".."):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a file name is required")
    target_dir = get_settings().data_dir / "uploads"
    target_dir.mkdir(parents=True, exist_ok=True)
    size = 0
    # Write beside the target and rename: readers never see half a file.
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(CHUNK):
                out.write(chunk)
                size += len(chunk)
        os.replace(tmp, target_dir / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"filename": name, "bytes": size, "path": str(target_dir / name)}


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
