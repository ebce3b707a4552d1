"""uv-backend: aistack.deploy's example of a uv project (pyproject.toml + uv.lock) with PostgreSQL and Alembic."""
