"""Who is calling: the manager API key of a place, checked before a request body is read.

Valid keys are remembered for a short while, so a busy event source costs no database read
per request; a key that is not valid is looked up every time (a new key works at once).
"""

import time
from dataclasses import dataclass

from journeys.errors import Forbidden, Unauthorized
from store import places
from store.db import SessionFactory, read_only

# How long a valid key is taken on trust, and how many are remembered.
KEY_CACHE_SECONDS = 30.0
KEY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Manager:
    """Who is calling: the place their key is for and the user it was issued to."""

    place_id: int
    user_id: int


class KeyCache:
    def __init__(self) -> None:
        self._known: dict[str, tuple[Manager, float]] = {}

    def get(self, digest: str) -> Manager | None:
        found = self._known.get(digest)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def put(self, digest: str, manager: Manager) -> None:
        if len(self._known) >= KEY_CACHE_SIZE:
            self._known.clear()
        self._known[digest] = (manager, time.monotonic() + KEY_CACHE_SECONDS)


async def authenticate(
    sessions: SessionFactory, cache: KeyCache, place_id: int, api_key: str | None
) -> Manager:
    """The manager a key belongs to, if it is a key of `place_id` (401/403 otherwise)."""
    if not api_key:
        raise Unauthorized("An Api-Key header with a manager API key is required.")
    digest = places.hash_key(api_key)
    manager = cache.get(digest)
    if manager is None:
        async with sessions() as session:
            await read_only(session)
            key = await places.find_key(session, api_key)
        if key is None:
            raise Unauthorized("The API key is not valid.")
        manager = Manager(place_id=key.place_id, user_id=key.user_id)
        cache.put(digest, manager)
    if manager.place_id != place_id:
        raise Forbidden(f"The API key is not a manager key for place {place_id}.")
    return manager
