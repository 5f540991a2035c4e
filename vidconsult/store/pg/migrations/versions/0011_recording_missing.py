"""the kinds of published tracks a recording file never got

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 16:00:00

A file whose camera's keyframe never came in time holds only the sound: its row says
``missing: ["video"]`` so the medical record does not silently lack the picture. Rows from
before say nothing is missing (``[]``): what they lacked was never noted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "recordings",
        sa.Column(
            "missing",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("recordings", "missing")
