"""the node whose recorder writes each recording

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:10:00

A starting node recovers only its own interrupted files, and a node that learns another died
marks that node's: several nodes share one recordings index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recordings", sa.Column("node_id", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    op.drop_column("recordings", "node_id")
