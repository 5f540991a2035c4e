"""a live room's raised hands (who, when, in which order), kept for whichever node holds the
room next: a node killed in a lecture does not empty the queue of hands

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_hands",
        sa.Column("room_id", sa.Text(), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "identity", name=op.f("pk_room_hands")),
    )


def downgrade() -> None:
    op.drop_table("room_hands")
