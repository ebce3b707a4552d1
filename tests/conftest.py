"""Make this checkout importable as ansible_collections.aistack.deploy.

The repository root is the collection root. Tests import the collection by its
real name, so we expose the checkout through a symlink tree outside the
repository (inside it, a link back to the root would loop for every tool that
walks the tree) and put that tree first on sys.path and on Ansible's
collections path.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def collection_tree() -> Path:
    """Return a directory holding ansible_collections/aistack/deploy -> REPO_ROOT."""
    # One tree per checkout (scripts/lib.sh names it the same way), so that two
    # clones on one machine never see each other.
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:8]
    base = Path(
        os.environ.get("AISTACK_COLLECTIONS_TREE")
        or Path(tempfile.gettempdir()) / f"aistack-collections-{os.getuid()}-{checkout}"
    )
    link = base / "ansible_collections" / "aistack" / "deploy"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != REPO_ROOT:
        link.unlink()
    if not link.exists():
        try:
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        except FileExistsError:  # another pytest worker won the race
            pass
    return base


_TREE = collection_tree()
sys.path.insert(0, str(_TREE))
# The shared test helpers: the package aistack_testlib in tests/harness
# (`from aistack_testlib import render_shapes`).
sys.path.insert(0, str(REPO_ROOT / "tests" / "harness"))
# Keep the venv's bundled collections (community.docker, ...) visible too.
os.environ["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
    p for p in (str(_TREE), os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")) if p
)
