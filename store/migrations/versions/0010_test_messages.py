"""test messages: a template sent once to an operator's own address, kept apart in the log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("test", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # A test rendered for no stored customer has none. SQLite rebuilds the table for this;
    # the rebuilt one must keep AUTOINCREMENT, so ids of deleted rows are never reused.
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("customer_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    # Test messages have no place in a log without the column that marks them.
    op.execute("DELETE FROM messages WHERE test")
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("customer_id", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_column("test")
