"""notes.tag: a nullable text column (test fixture of the molecule scenario `releases`).

Revision ID: 0002
Revises: 0001

A release with a migration that succeeds: upgrade adds notes.tag, downgrade
drops it again.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | t.Sequence[str] | None = None
depends_on: str | t.Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("tag", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("notes", "tag")
