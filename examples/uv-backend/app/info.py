"""The console script uv-backend-info: the installed versions of the app and its web stack, as JSON."""

from __future__ import annotations

import json
from importlib.metadata import version


def main() -> None:
    print(json.dumps({name: version(name) for name in ("uv-backend", "fastapi", "uvicorn")}))


if __name__ == "__main__":
    main()
