"""Alembic environment of the reference backend (app/alembic.ini).

    alembic -c app/alembic.ini upgrade head          online: DATABASE_URL's database
    alembic -c app/alembic.ini upgrade head --sql    offline: print the SQL, no database

The database is DATABASE_URL, turned into a postgresql+psycopg:// URL by
database_url.py (loaded by path: the `app` package is never imported, the
image sets no PYTHONPATH). Offline mode uses DATABASE_URL when set, else the
PostgreSQL dialect. All pending revisions run in one transaction: when one
fails, PostgreSQL rolls back the others and the database stays at the revision
it had. No bytecode is written: the image's root filesystem is read-only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import typing as t
from logging.config import fileConfig
from pathlib import Path
from types import ModuleType

from alembic import context
from alembic.util import CommandError
from sqlalchemy import create_engine, pool

sys.dont_write_bytecode = True  # for database_url.py and versions/*.py, loaded after this

HERE = Path(__file__).resolve().parent


def _database_url_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aistack_reference_migrations_database_url", HERE / "database_url.py")
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot load {HERE / 'database_url.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_url(required: bool) -> str | None:
    """DATABASE_URL as a SQLAlchemy URL; a CommandError (alembic prints "FAILED: ...") when it is missing but required."""
    urls = _database_url_module()
    if not required and not os.environ.get(urls.ENV_VAR, "").strip():
        return None
    try:
        return t.cast(str, urls.url_from_env(os.environ))
    except urls.DatabaseUrlError as exc:
        raise CommandError(str(exc)) from exc


def run_offline() -> None:
    url = database_url(required=False)
    target: dict[str, str] = {"url": url} if url else {"dialect_name": "postgresql"}
    context.configure(literal_binds=True, **target)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(t.cast(str, database_url(required=True)), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def main() -> None:
    config = context.config
    # Tests that drive alembic in-process set attributes["configure_logger"] = False.
    if config.config_file_name and config.attributes.get("configure_logger", True):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        run_offline()
    else:
        run_online()


main()
