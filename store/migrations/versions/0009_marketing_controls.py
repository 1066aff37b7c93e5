"""marketing controls: consent, template categories, place settings, entry rules, exits, goals

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column(
        "customers", sa.Column("subscriptions", sa.JSON(), nullable=False, server_default="{}")
    )
    op.create_index("ix_customers_place_phone", "customers", ["place_id", "phone"])
    op.add_column(
        "templates",
        sa.Column("category", sa.String(length=16), nullable=False, server_default="marketing"),
    )
    op.add_column("messages", sa.Column("category", sa.String(length=16), nullable=True))
    op.add_column("journeys", sa.Column("entry_rules", sa.JSON(), nullable=True))
    op.add_column("journeys", sa.Column("exit_rules", sa.JSON(), nullable=True))
    op.add_column("journeys", sa.Column("goal", sa.JSON(), nullable=True))
    op.add_column("events", sa.Column("skipped", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "journey_runs", sa.Column("skipped", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "place_settings",
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("quiet_hours", sa.JSON(), nullable=True),
        sa.Column("frequency_caps", sa.JSON(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("place_id"),
    )
    op.create_table(
        "journey_entries",
        sa.Column("journey_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("entered", sa.BigInteger(), nullable=False),
        sa.Column("execution_id", sa.String(length=255), nullable=True),
        sa.Column("released", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "customer_id"),
    )
    op.create_table(
        "journey_conversions",
        sa.Column("execution_id", sa.String(length=255), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("journey_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("converted", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["place_id"], ["places.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("execution_id"),
    )
    op.create_index("ix_conversions_journey", "journey_conversions", ["journey_id"])


def downgrade() -> None:
    op.drop_index("ix_conversions_journey", table_name="journey_conversions")
    op.drop_table("journey_conversions")
    op.drop_table("journey_entries")
    op.drop_table("place_settings")
    with op.batch_alter_table("journey_runs") as batch:
        batch.drop_column("skipped")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("skipped")
    with op.batch_alter_table("journeys") as batch:
        batch.drop_column("goal")
        batch.drop_column("exit_rules")
        batch.drop_column("entry_rules")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("category")
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("category")
    op.drop_index("ix_customers_place_phone", table_name="customers")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("subscriptions")
        batch.drop_column("timezone")
