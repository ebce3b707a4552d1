"""The API: /health (no database), / (name and version), items in PostgreSQL, and what the app was given."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import select, text

from app.core.config import settings
from app.core.db import SessionLocal
from app.models import Item

app = FastAPI(title=settings.PROJECT_NAME)


class ItemIn(BaseModel):
    title: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def root() -> dict[str, str]:
    return {"name": "uv-backend", "version": version("uv-backend")}


@app.get("/api/v1/items")
def list_items() -> list[dict[str, object]]:
    with SessionLocal() as session:
        return [{"id": item.id, "title": item.title} for item in session.scalars(select(Item).order_by(Item.id))]


@app.post("/api/v1/items", status_code=201)
def create_item(body: ItemIn) -> dict[str, object]:
    with SessionLocal.begin() as session:
        item = Item(title=body.title)
        session.add(item)
        session.flush()
        return {"id": item.id, "title": item.title}


@app.get("/api/v1/utils/database")
def database() -> dict[str, object]:
    """Where the app's settings point (never the password) and the schema revision Alembic left."""
    with SessionLocal() as session:
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return {"server": settings.POSTGRES_SERVER, "port": settings.POSTGRES_PORT, "user": settings.POSTGRES_USER,
            "db": settings.POSTGRES_DB, "revision": revision}
