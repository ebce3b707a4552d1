"""The prestart's first step: wait until the database answers (at most 60 s), as the templates' prestart does."""

from __future__ import annotations

import logging
import time

from sqlalchemy import text

from app.core.db import engine

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("prestart")


def main(attempts: int = 60) -> None:
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # pylint: disable=broad-exception-caught  # any failure: try again
            if attempt == attempts:
                raise
            log.info("database not ready (%s), attempt %d of %d", type(error).__name__, attempt, attempts)
            time.sleep(1)
        else:
            log.info("database ready")
            return


if __name__ == "__main__":
    main()
