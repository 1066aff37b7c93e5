"""Store tests: places 42 and 43 exist, the rest is up to each test (`db`)."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from store import places
from store.db import session_factory
from tests.helpers.api import OTHER_PLACE, PLACE
from tests.helpers.store import Db


@pytest.fixture
async def db(clean_engine: AsyncEngine) -> AsyncIterator[Db]:
    async with session_factory(clean_engine)() as session:
        for place in (PLACE, OTHER_PLACE):
            await places.ensure_place(session, place)
        await session.commit()
    yield Db(clean_engine)
