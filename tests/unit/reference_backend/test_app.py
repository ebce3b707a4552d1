"""Unit tests of the reference backend (examples/reference-backend) with FastAPI's TestClient.

They need fastapi, python-multipart and httpx2 (tests/requirements/newest*.txt);
where those are missing (the oldest-ansible venv) they are skipped.
"""

from __future__ import annotations

import importlib
import json
import math
import sqlite3
import sys
import typing as t
from collections.abc import Mapping
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")
pytest.importorskip("httpx2")

BACKEND = Path(__file__).resolve().parents[3] / "examples" / "reference-backend"
SAMPLE_MODEL = BACKEND / "models" / "model.json"
sys.path.insert(0, str(BACKEND))
main = importlib.import_module("app.main")
model_module = importlib.import_module("app.model")

from fastapi.testclient import TestClient  # noqa: E402  pylint: disable=wrong-import-position

FEATURES = {"tenure_months": 12, "monthly_charges": 70, "support_tickets": 2}


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    models = tmp_path / "models"
    data = tmp_path / "data"
    models.mkdir()
    data.mkdir()
    (models / "model.json").write_bytes(SAMPLE_MODEL.read_bytes())
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MODEL_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELS_DIR", str(models))
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("MIN_FREE_DISK_MB", "1")
    return {"models": models, "data": data}


@pytest.fixture(name="client")
def client_fixture(env: dict[str, Path]) -> t.Iterator[TestClient]:  # pylint: disable=unused-argument
    with TestClient(main.app) as client:
        yield client


def expected_score(features: Mapping[str, float]) -> float:
    doc = json.loads(SAMPLE_MODEL.read_text())
    z = doc["bias"] + sum(w * features[f] for f, w in zip(doc["features"], doc["weights"], strict=True))
    return 1 / (1 + math.exp(-z))


def test_root_names_the_service(client: TestClient) -> None:
    assert client.get("/").json()["service"] == "aistack-reference-backend"


def test_health_ok_without_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"warmup", "database", "model", "disk"}
    assert body["checks"]["database"]["status"] == "skipped"
    assert body["checks"]["model"] == {"status": "ok", "name": "churn-demo", "version": "1.0.0"}
    assert body["checks"]["disk"]["status"] == "ok"


def test_health_checks_sqlite_database(
    client: TestClient, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = env["data"] / "app.db"
    sqlite3.connect(db).close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["status"] == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent/dir/app.db",  # never created by the check
        "mysql://user@db/app",  # unsupported scheme
        "postgresql+psycopg2://u:p@127.0.0.1:1/db",  # nothing listens on port 1 (or no driver)
    ],
)
def test_health_503_when_database_fails(client: TestClient, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "fail"
    assert "p@" not in json.dumps(body), "the health output must not echo credentials"


def test_health_503_while_warming_up(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMUP_S", "3600")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["warmup"]["status"] == "fail"
    assert "warming up" in response.json()["checks"]["warmup"]["detail"]
    monkeypatch.setenv("WARMUP_S", "0")
    assert client.get("/health").status_code == 200


def test_health_503_without_model(client: TestClient, env: dict[str, Path]) -> None:
    (env["models"] / "model.json").unlink()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["model"]["status"] == "fail"


def test_health_503_when_disk_is_short(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIN_FREE_DISK_MB", str(10**12))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["disk"]["status"] == "fail"


def test_predict_scores_with_the_model_file(client: TestClient) -> None:
    response = client.post("/predict", json={"features": FEATURES})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "churn-demo"
    assert body["score"] == pytest.approx(expected_score(FEATURES))


def test_predict_reloads_a_replaced_model(client: TestClient, env: dict[str, Path]) -> None:
    doc = json.loads(SAMPLE_MODEL.read_text())
    doc.update(link="identity", weights=[0, 0, 0], bias=7.5, version="2.0.0")
    (env["models"] / "model.json").write_text(json.dumps(doc) + "\n" * 3)  # another size
    body = client.post("/predict", json={"features": FEATURES}).json()
    assert (body["version"], body["score"]) == ("2.0.0", 7.5)


def test_predict_422_on_missing_feature(client: TestClient) -> None:
    response = client.post("/predict", json={"features": {"tenure_months": 1}})
    assert response.status_code == 422
    assert "monthly_charges" in response.json()["detail"]


def test_predict_503_without_model(client: TestClient, env: dict[str, Path]) -> None:
    (env["models"] / "model.json").unlink()
    assert client.post("/predict", json={"features": FEATURES}).status_code == 503


def test_predict_async_503_without_broker(client: TestClient) -> None:
    assert client.post("/predict/async", json={"features": FEATURES}).status_code == 503


def test_upload_writes_to_the_data_volume(client: TestClient, env: dict[str, Path]) -> None:
    response = client.post("/upload", files={"file": ("../../etc/clip.mp4", b"\x00" * 3000)})
    assert response.status_code == 201
    assert response.json()["bytes"] == 3000
    stored = env["data"] / "uploads" / "clip.mp4"
    assert stored.read_bytes() == b"\x00" * 3000
    assert [p.name for p in stored.parent.iterdir()] == ["clip.mp4"], "no temporary file left behind"


def test_websocket_echoes(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        for text in ("hello", "second message"):
            ws.send_text(text)
            assert ws.receive_text() == text


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"format": "other"}, "not an"),
        ({"format": "aistack-linear-model/1", "features": [], "weights": []}, "features"),
        ({"format": "aistack-linear-model/1", "features": ["a", "a"], "weights": [1, 2]}, "unique"),
        ({"format": "aistack-linear-model/1", "features": ["a"], "weights": [1, 2]}, "one per feature"),
        ({"format": "aistack-linear-model/1", "features": ["a"], "weights": [True]}, "one per feature"),
        ({"format": "aistack-linear-model/1", "features": ["a"], "weights": [1], "link": "relu"}, "link"),
    ],
)
def test_model_rejects_invalid_documents(doc: dict[str, t.Any], message: str) -> None:
    with pytest.raises(model_module.ModelError, match=message):
        model_module.LinearModel.from_dict(doc)


def test_model_logistic_is_stable_for_large_inputs() -> None:
    model = model_module.LinearModel.from_dict(
        {"format": "aistack-linear-model/1", "features": ["x"], "weights": [1], "link": "logistic"}
    )
    assert model.predict({"x": -1000}) == pytest.approx(0.0)
    assert model.predict({"x": 1000}) == pytest.approx(1.0)


def test_worker_tasks_predict_and_heartbeat(env: dict[str, Path]) -> None:
    pytest.importorskip("celery")
    worker = importlib.import_module("app.worker")
    assert worker.predict_task.run(FEATURES)["score"] == pytest.approx(expected_score(FEATURES))
    worker.heartbeat.run()
    assert json.loads((env["data"] / "heartbeat.json").read_text())["at"] > 0
    assert "heartbeat" in worker.celery_app.conf.beat_schedule
