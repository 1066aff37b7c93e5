"""Places and their manager API keys."""

import hashlib
import secrets

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.clock import now
from store.tables import ApiKey, Place

KEY_PREFIX = "jrn_"


def hash_key(key: str) -> str:
    # The keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def ensure_place(session: AsyncSession, place_id: int, name: str | None = None) -> Place:
    place = await session.get(Place, place_id)
    if place is None:
        place = Place(id=place_id, name=name or f"Place {place_id}", created=now())
        session.add(place)
        await session.flush()
    return place


async def add_key(
    session: AsyncSession, place_id: int, user_id: int, key: str | None = None
) -> str:
    """Register a manager key for the place (created if missing); returns the key itself."""
    await ensure_place(session, place_id)
    key = key or new_key()
    digest = hash_key(key)
    existing = (await session.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
    if existing is None:
        session.add(ApiKey(place_id=place_id, user_id=user_id, key_hash=digest, created=now()))
        await session.flush()
    elif existing.place_id != place_id:
        raise ValueError("that key already belongs to another place")
    return key


async def find_key(session: AsyncSession, key: str) -> ApiKey | None:
    return await key_by_digest(session, hash_key(key))


async def key_by_digest(session: AsyncSession, digest: str) -> ApiKey | None:
    return (await session.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
