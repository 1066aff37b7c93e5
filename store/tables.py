"""SQLModel tables. Timestamps are Unix seconds, as the API shows them."""

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Place(SQLModel, table=True):
    __tablename__ = "places"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=255)
    created: int = Field(sa_column=Column(BigInteger, nullable=False))


class ApiKey(SQLModel, table=True):
    """A manager API key; only its SHA-256 is stored (the key itself is 256 random bits)."""

    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, sa_column=Column(Id, primary_key=True))
    place_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("places.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    key_hash: str = Field(max_length=64, unique=True)
    created: int = Field(sa_column=Column(BigInteger, nullable=False))


class Journey(SQLModel, table=True):
    __tablename__ = "journeys"
    # AUTOINCREMENT: a deleted journey's id is never handed out again, because execution ids
    # in Temporal are derived from it.
    __table_args__ = (
        Index("ix_journeys_place_trigger", "place_id", "trigger_event"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(Id, primary_key=True))
    place_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("places.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    name: str = Field(max_length=255)
    description: str | None = Field(default=None)
    trigger_event: str = Field(max_length=64)
    # Plain JSON (not JSONB) so the document comes back exactly as it was given, key order too.
    machine_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    active: bool = Field(default=False)
    version: int = Field(default=1)
    # Set by `store.journeys.create`.
    created: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
