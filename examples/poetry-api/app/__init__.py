"""poetry-api: aistack.deploy's example of a Poetry project (pyproject.toml + poetry.lock)."""
