"""pdm-api: aistack.deploy's example of a PDM project (pyproject.toml + pdm.lock)."""
