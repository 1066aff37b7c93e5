"""journey versions: each saved machineConfig, for the console's history

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("machine_config", sa.JSON(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "version"),
    )
    # The versions before this one were not kept: each journey's history starts with the
    # version it is at.
    op.execute(
        "INSERT INTO journey_versions (journey_id, version, place_id, user_id, machine_config, "
        "created) SELECT id, version, place_id, user_id, machine_config, updated FROM journeys"
    )


def downgrade() -> None:
    op.drop_table("journey_versions")
