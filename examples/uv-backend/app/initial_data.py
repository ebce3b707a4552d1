"""The prestart's last step: data the app needs, written once (a second run changes nothing)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from app.core.config import settings
from app.core.db import SessionLocal
from app.models import Item

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("initial_data")


def main() -> None:
    with SessionLocal.begin() as session:
        if session.scalar(select(func.count()).select_from(Item)):
            log.info("initial data already there")
            return
        session.add(Item(title=settings.FIRST_ITEM_TITLE))
        log.info("initial data written")


if __name__ == "__main__":
    main()
