"""message leases: when an attempt that may be talking to a provider gives up its claim

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("lease_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "lease_until")
