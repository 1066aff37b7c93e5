"""richer steps: a customer's events by name (wait_for_event), customer updates (update_customer)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("received_ms", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_events_place_customer_name",
        "events",
        ["place_id", "customer_id", "name", "received_ms"],
    )
    op.create_table(
        "customer_updates",
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("journey_id", sa.BigInteger(), nullable=True),
        sa.Column("execution_id", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=255), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index(
        "ix_customer_updates_customer", "customer_updates", ["place_id", "customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_customer_updates_customer", table_name="customer_updates")
    op.drop_table("customer_updates")
    op.drop_index("ix_events_place_customer_name", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("received_ms")
