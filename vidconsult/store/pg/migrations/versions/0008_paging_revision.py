"""emergency pagings: a revision per paging, each write a compare-and-set on it (an acceptance
and an escalation at the same instant: exactly one lands first)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "pagings", sa.Column("revision", sa.Integer(), server_default="1", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("pagings", "revision")
