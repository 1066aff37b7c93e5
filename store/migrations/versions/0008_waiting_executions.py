"""waiting executions: the registry of executions waiting for a condition

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waiting_executions",
        sa.Column("execution_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("journey_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=255), nullable=True),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("registered", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("woken", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("execution_id", "kind"),
    )
    op.create_index(
        "ix_waiting_place_customer", "waiting_executions", ["place_id", "customer_id"]
    )
    op.create_index(
        "ix_waiting_condition",
        "waiting_executions",
        ["kind", "place_id", "condition", "customer_id"],
    )
    op.create_index("ix_waiting_checked", "waiting_executions", ["checked"])
    op.create_index("ix_waiting_journey", "waiting_executions", ["journey_id"])


def downgrade() -> None:
    op.drop_index("ix_waiting_journey", table_name="waiting_executions")
    op.drop_index("ix_waiting_checked", table_name="waiting_executions")
    op.drop_index("ix_waiting_condition", table_name="waiting_executions")
    op.drop_index("ix_waiting_place_customer", table_name="waiting_executions")
    op.drop_table("waiting_executions")
