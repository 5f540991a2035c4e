"""the specialty catalogue: created specialties, built-in ones renamed or retired

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "specialties",
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_specialties")),
    )


def downgrade() -> None:
    op.drop_table("specialties")
