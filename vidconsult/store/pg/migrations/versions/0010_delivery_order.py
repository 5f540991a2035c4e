"""webhook deliveries in order: a delivery may wait for another to finish first (a page's
``page.cancelled`` is not attempted before that page's ``page.sent`` to the same endpoint was
delivered or given up)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("after_id", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "after_id")
