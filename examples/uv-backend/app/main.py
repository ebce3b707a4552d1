"""GET /health answers 200; GET / names the app and its version."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI

app = FastAPI(title="uv-backend")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def root() -> dict[str, str]:
    return {"name": "uv-backend", "version": version("uv-backend")}
