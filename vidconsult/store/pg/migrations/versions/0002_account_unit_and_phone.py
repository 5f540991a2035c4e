"""accounts: a unit doctor's unit, and a phone for pages

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("unit_id", sa.Text(), nullable=True))
    op.add_column("accounts", sa.Column("phone", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    op.drop_column("accounts", "phone")
    op.drop_column("accounts", "unit_id")
