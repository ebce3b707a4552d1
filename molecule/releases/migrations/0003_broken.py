"""A migration that always fails (test fixture of the molecule scenario `releases`).

Revision ID: 0003
Revises: 0002

A release whose migration fails: PostgreSQL rejects the unknown column type,
so `alembic upgrade head` exits non-zero with PostgreSQL's error (type
"no_such_type" does not exist) in its output, and the transaction rolls back:
the database stays at the revision it had. (SQLite would accept any type name;
this fixture is for PostgreSQL.)
"""

from __future__ import annotations

import typing as t

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | t.Sequence[str] | None = None
depends_on: str | t.Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE notes ADD COLUMN broken no_such_type")


def downgrade() -> None:
    pass  # upgrade never succeeds, so there is nothing to undo
