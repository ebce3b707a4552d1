"""DATABASE_URL -> the SQLAlchemy URL the migrations connect with.

The stack hands the backend postgresql://user:password@postgres:5432/db (the
password URL-encoded). SQLAlchemy would pick psycopg2 for postgresql://, but
the image has psycopg 3 only, so every PostgreSQL scheme (postgres://,
postgresql://, postgresql+<driver>://) becomes postgresql+psycopg://; any
other URL (sqlite:///..., used by the unit tests) is passed on unchanged.

Standard library only, and loaded by env.py by path: migrations never import
the `app` package (the image sets no PYTHONPATH).
"""

from __future__ import annotations

import typing as t

ENV_VAR = "DATABASE_URL"
POSTGRES_SCHEMES = ("postgres", "postgresql")
POSTGRES_SCHEME = "postgresql+psycopg"


class DatabaseUrlError(ValueError):
    """DATABASE_URL is unset or not a URL."""


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL for a DATABASE_URL value (psycopg 3 for PostgreSQL)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        raise DatabaseUrlError(f"{ENV_VAR} is not a URL; expected postgresql://user:password@host:5432/database")
    if scheme.split("+", 1)[0].lower() in POSTGRES_SCHEMES:
        return f"{POSTGRES_SCHEME}://{rest}"
    return url.strip()


def url_from_env(environ: t.Mapping[str, str]) -> str:
    """sqlalchemy_url(environ["DATABASE_URL"]); DatabaseUrlError when unset or empty."""
    url = environ.get(ENV_VAR, "").strip()
    if not url:
        raise DatabaseUrlError(f"{ENV_VAR} is not set: the migrations need postgresql://user:password@host:5432/database")
    return sqlalchemy_url(url)
