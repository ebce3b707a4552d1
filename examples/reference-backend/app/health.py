"""The checks behind /health: database, model file, free disk.

Each check returns {"status": "ok" | "fail" | "skipped", ...} and never raises.
They are cheap on purpose (no model evaluation, one short database round
trip) because orchestrators call /health every few seconds.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
import typing as t
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .model import ModelError, load_model

Check = dict[str, t.Any]
DB_TIMEOUT_S = 2


def check_database(url: str) -> Check:
    if not url:
        return {"status": "skipped", "detail": "DATABASE_URL is not set"}
    start = time.perf_counter()
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    try:
        if scheme == "sqlite":
            _ping_sqlite(url)
        elif scheme in ("postgres", "postgresql"):
            _ping_postgres(url)
        else:
            return {"status": "fail", "detail": f"unsupported database scheme {scheme!r}"}
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any failure is "fail"
        return {"status": "fail", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "ms": round((time.perf_counter() - start) * 1000, 1)}


def _ping_sqlite(url: str) -> None:
    # sqlite:///relative/path.db, sqlite:////absolute/path.db; never create the file.
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path:
        raise ValueError("sqlite URL without a path")
    with sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=DB_TIMEOUT_S) as conn:
        conn.execute("SELECT 1").fetchone()


def _ping_postgres(url: str) -> None:
    import psycopg  # pylint: disable=import-outside-toplevel  # only needed with PostgreSQL

    parts = urlsplit(url)
    conninfo = urlunsplit(("postgresql",) + tuple(parts)[1:])  # drop "+psycopg2" and the like
    with psycopg.connect(conninfo, connect_timeout=DB_TIMEOUT_S) as conn:
        conn.execute("SELECT 1").fetchone()


def check_model(path: Path) -> Check:
    try:
        model = load_model(path)
    except ModelError as exc:
        return {"status": "fail", "detail": str(exc)}
    return {"status": "ok", "name": model.name, "version": model.version}


def check_disk(path: Path, min_free_mb: int) -> Check:
    try:
        free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    except OSError as exc:
        return {"status": "fail", "detail": f"{path}: {exc.strerror or exc}"}
    status = "ok" if free_mb >= min_free_mb else "fail"
    return {"status": status, "free_mb": free_mb, "min_free_mb": min_free_mb}
