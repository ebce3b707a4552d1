"""Unit tests of the reference backend's Alembic migrations (examples/reference-backend/app/migrations).

No PostgreSQL here: the DATABASE_URL conversion, the revision chain (the
backend's own, and with the `releases` scenario's fixtures from
molecule/releases/migrations), the SQL of offline mode (`upgrade head --sql`)
and, on SQLite, an online upgrade and downgrade. Alembic runs as the migrate
job runs it: `alembic -c app/alembic.ini ...` from a directory holding app/,
without PYTHONPATH and without the current directory on sys.path, on a copy
that has only app/alembic.ini and app/migrations (so importing the `app`
package would fail). They need alembic and SQLAlchemy (tests/requirements/newest*.txt);
where those are missing (the oldest-ansible venv) they are skipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from alembic.config import Config  # pylint: disable=wrong-import-position
from alembic.script import ScriptDirectory  # pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "examples" / "reference-backend" / "app"
FIXTURES = ROOT / "molecule" / "releases" / "migrations"
PG_URL = "postgresql+psycopg://app:p%40ss%2Fword@postgres:5432/app"


def load_database_url() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reference_migrations_database_url", APP / "migrations" / "database_url.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


database_url = load_database_url()


@pytest.fixture(name="no_bytecode", autouse=True)
def no_bytecode_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alembic imports env.py and the revisions: write no __pycache__ into the checkout."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@pytest.fixture(name="backend")
def backend_fixture(tmp_path: Path) -> Path:
    """A directory like the image's WORKDIR, with only app/alembic.ini and app/migrations."""
    (tmp_path / "app").mkdir()
    shutil.copy2(APP / "alembic.ini", tmp_path / "app" / "alembic.ini")
    shutil.copytree(APP / "migrations", tmp_path / "app" / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def add_fixtures(backend: Path, *names: str) -> None:
    for name in names:
        shutil.copy2(FIXTURES / name, backend / "app" / "migrations" / "versions" / name)


def script_directory(ini: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(ini)))


def chain(script: ScriptDirectory) -> list[tuple[str, str | list[str] | tuple[str, ...] | None]]:
    """(revision, down_revision) from the base to the head."""
    return [(rev.revision, rev.down_revision) for rev in reversed(list(script.walk_revisions()))]


def alembic(backend: Path, *args: str, database_url_value: str | None = None) -> subprocess.CompletedProcess[str]:
    """`alembic -c app/alembic.ini ARGS` in backend: -I keeps the cwd and PYTHON* variables off, -B writes no bytecode."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "PYTHONPATH")}
    if database_url_value is not None:
        env["DATABASE_URL"] = database_url_value
    argv = [sys.executable, "-I", "-B", "-m", "alembic", "-c", "app/alembic.ini", *args]
    return subprocess.run(argv, cwd=backend, env=env, capture_output=True, text=True, timeout=120, check=False)


def files_under(path: Path) -> set[Path]:
    return {p.relative_to(path) for p in path.rglob("*")}


# ----------------------------------------------------------- DATABASE_URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:p%40ss%2Fword@postgres:5432/app", PG_URL),
        ("postgres://app:p%40ss%2Fword@postgres:5432/app", PG_URL),
        ("PostgreSQL://app:p%40ss%2Fword@postgres:5432/app", PG_URL),
        ("postgresql+psycopg2://app:p%40ss%2Fword@postgres:5432/app", PG_URL),
        (PG_URL, PG_URL),
        ("  postgresql://app:p%40ss%2Fword@postgres:5432/app\n", PG_URL),
        ("postgresql://app@/app?host=/run/postgresql", "postgresql+psycopg://app@/app?host=/run/postgresql"),
        ("sqlite:////tmp/app.db", "sqlite:////tmp/app.db"),
    ],
)
def test_sqlalchemy_url_uses_psycopg3_for_postgresql(url: str, expected: str) -> None:
    assert database_url.sqlalchemy_url(url) == expected


@pytest.mark.parametrize("url", ["postgres", "not a url", "://host/db"])
def test_sqlalchemy_url_rejects_what_is_not_a_url(url: str) -> None:
    with pytest.raises(database_url.DatabaseUrlError, match="DATABASE_URL is not a URL"):
        database_url.sqlalchemy_url(url)


def test_url_from_env_reads_database_url() -> None:
    assert database_url.url_from_env({"DATABASE_URL": "postgresql://app:p%40ss%2Fword@postgres:5432/app"}) == PG_URL


@pytest.mark.parametrize("environ", [{}, {"DATABASE_URL": ""}, {"DATABASE_URL": "  "}])
def test_url_from_env_fails_clearly_without_database_url(environ: dict[str, str]) -> None:
    with pytest.raises(database_url.DatabaseUrlError, match="DATABASE_URL is not set"):
        database_url.url_from_env(environ)


def test_sqlalchemy_parses_the_converted_url() -> None:
    from sqlalchemy.engine import make_url  # pylint: disable=import-outside-toplevel

    url = make_url(database_url.sqlalchemy_url("postgresql://app:p%40ss%2Fword@postgres:5432/app"))
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "app",
        "p@ss/word",
        "postgres",
        5432,
        "app",
    )


# ----------------------------------------------------------- revision chain


def test_alembic_ini_points_at_the_migrations_beside_it() -> None:
    script = script_directory(APP / "alembic.ini")
    assert Path(script.dir) == APP / "migrations"
    assert Path(script.versions) == APP / "migrations" / "versions"


def test_backend_chain_is_0001_alone() -> None:
    script = script_directory(APP / "alembic.ini")
    assert script.get_heads() == ["0001"]
    assert script.get_bases() == ["0001"]
    assert chain(script) == [("0001", None)]


def test_revision_files_are_named_after_their_ids(backend: Path) -> None:
    add_fixtures(backend, "0002_notes_tag.py", "0003_broken.py")
    for rev in script_directory(backend / "app" / "alembic.ini").walk_revisions():
        assert Path(rev.path).name.startswith(f"{rev.revision}_")


def test_fixtures_extend_the_chain_to_a_single_head(backend: Path) -> None:
    add_fixtures(backend, "0002_notes_tag.py", "0003_broken.py")
    script = script_directory(backend / "app" / "alembic.ini")
    assert chain(script) == [("0001", None), ("0002", "0001"), ("0003", "0002")]
    assert script.get_heads() == ["0003"]


def test_good_release_fixture_alone_has_head_0002(backend: Path) -> None:
    add_fixtures(backend, "0002_notes_tag.py")
    script = script_directory(backend / "app" / "alembic.ini")
    assert chain(script) == [("0001", None), ("0002", "0001")]
    assert script.get_heads() == ["0002"]


# ----------------------------------------------------------- running alembic


def test_offline_sql_creates_notes_without_a_database(backend: Path) -> None:
    before = files_under(backend)
    result = alembic(backend, "upgrade", "head", "--sql")
    assert result.returncode == 0, result.stderr
    sql = " ".join(result.stdout.split())
    assert (
        "CREATE TABLE notes ( id SERIAL NOT NULL, body TEXT NOT NULL, created_at TIMESTAMP WITH TIME ZONE DEFAULT now(), PRIMARY KEY (id) );"
        in sql
    )
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert sql.startswith("BEGIN;") and sql.endswith("COMMIT;")  # one transaction
    assert files_under(backend) == before  # nothing written


def test_offline_sql_uses_database_url_when_set(backend: Path) -> None:
    result = alembic(
        backend, "upgrade", "head", "--sql", database_url_value="postgresql://app:secret@postgres:5432/app"
    )
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE notes" in result.stdout
    assert "Context impl PostgresqlImpl" in result.stderr


def test_offline_sql_of_the_fixtures(backend: Path) -> None:
    add_fixtures(backend, "0002_notes_tag.py", "0003_broken.py")
    result = alembic(backend, "upgrade", "0001:head", "--sql")
    assert result.returncode == 0, result.stderr
    assert "ALTER TABLE notes ADD COLUMN tag TEXT;" in result.stdout
    assert "ALTER TABLE notes ADD COLUMN broken no_such_type;" in result.stdout
    result = alembic(backend, "downgrade", "0002:0001", "--sql")
    assert result.returncode == 0, result.stderr
    assert "ALTER TABLE notes DROP COLUMN tag;" in result.stdout


def test_online_upgrade_fails_clearly_without_database_url(backend: Path) -> None:
    result = alembic(backend, "upgrade", "head")
    assert result.returncode != 0
    assert (
        "FAILED: DATABASE_URL is not set" in result.stdout
    )  # alembic prints FAILED on stdout, logs the error on stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_online_upgrade_and_downgrade_on_sqlite(backend: Path, tmp_path: Path) -> None:
    add_fixtures(backend, "0002_notes_tag.py")
    db = tmp_path / "app.db"
    url = f"sqlite:///{db}"
    result = alembic(backend, "upgrade", "head", database_url_value=url)
    assert result.returncode == 0, result.stderr
    assert "Running upgrade 0001 -> 0002" in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
        assert [row[1] for row in conn.execute("PRAGMA table_info(notes)")] == ["id", "body", "created_at", "tag"]
        conn.execute("INSERT INTO notes (body) VALUES ('hello')")
        assert conn.execute("SELECT id, created_at IS NOT NULL FROM notes").fetchall() == [(1, 1)]
    result = alembic(backend, "downgrade", "0001", database_url_value=url)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        assert [row[1] for row in conn.execute("PRAGMA table_info(notes)")] == ["id", "body", "created_at"]
