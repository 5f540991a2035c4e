"""a room's waiting-room admissions and chat, kept for whichever node holds the room next; the
rooms' lobby flag (a room with a waiting room kept it only on SQLite)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("lobby", sa.Boolean(), server_default="false", nullable=False))
    op.create_table(
        "room_admitted",
        sa.Column("room_id", sa.Text(), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "identity", name=op.f("pk_room_admitted")),
    )
    op.create_table(
        "room_chat",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("room_id", sa.Text(), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_room_chat")),
        sa.UniqueConstraint("id", name=op.f("uq_room_chat_id")),
    )
    op.create_index(op.f("ix_room_chat_room_id_seq"), "room_chat", ["room_id", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_room_chat_room_id_seq"), table_name="room_chat")
    op.drop_table("room_chat")
    op.drop_table("room_admitted")
    op.drop_column("rooms", "lobby")
