"""The app's settings, read from the environment under its own names (as the full-stack FastAPI template reads them).

app_stack hands them over with app_stack_env_from (POSTGRES_SERVER: postgres.host, ...); the password comes
from the release's .env (POSTGRES_PASSWORD, the postgres preset's secret). Nothing here needs a database at
import time: the image runs (and answers /health) without one.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    PROJECT_NAME: str = "uv-backend"
    POSTGRES_SERVER: str = "localhost"
    POSTGRES_PORT: int = 5432
    POSTGRES_USER: str = "postgres"
    POSTGRES_PASSWORD: str = ""
    POSTGRES_DB: str = "app"
    # The row the prestart's initial data puts in an empty table.
    FIRST_ITEM_TITLE: str = "first item, written by the prestart"

    @property
    def database_url(self) -> URL:
        return URL.create("postgresql+psycopg", username=self.POSTGRES_USER, password=self.POSTGRES_PASSWORD,
                          host=self.POSTGRES_SERVER, port=self.POSTGRES_PORT, database=self.POSTGRES_DB)


settings = Settings()
