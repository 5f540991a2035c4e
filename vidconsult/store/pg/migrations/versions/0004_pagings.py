"""emergency pagings: open pages survive a restart

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 22:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pagings",
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("doc", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_pagings")),
    )
    op.create_index(
        op.f("ix_pagings_state_opened_at"), "pagings", ["state", "opened_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pagings_state_opened_at"), table_name="pagings")
    op.drop_table("pagings")
