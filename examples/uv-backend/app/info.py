"""The console script uv-backend-info: the installed versions of the app and its web and database stack, as JSON."""

from __future__ import annotations

import json
from importlib.metadata import version

PACKAGES = ("uv-backend", "fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg")


def main() -> None:
    print(json.dumps({name: version(name) for name in PACKAGES}))


if __name__ == "__main__":
    main()
