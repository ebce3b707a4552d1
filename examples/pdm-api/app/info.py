"""The console script pdm-api-info: the installed versions of the app and its server, as JSON."""

from __future__ import annotations

import json
from importlib.metadata import version


def main() -> None:
    print(json.dumps({name: version(name) for name in ("pdm-api", "uvicorn")}))


if __name__ == "__main__":
    main()
