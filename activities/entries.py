"""Journey entries: an ended execution of an `after_exit` journey lets its customer in again."""

from contextlib import AbstractAsyncContextManager
from typing import Any

from temporalio import activity

from store import entries
from store.db import SessionFactory
from workflows.contracts import EntryRelease
from workflows.visibility import RELEASE_ENTRY


class Entries:
    def __init__(self, sessions: SessionFactory, gate: AbstractAsyncContextManager[Any]) -> None:
        self.sessions = sessions
        self.gate = gate

    @activity.defn(name=RELEASE_ENTRY)
    async def release_entry(self, request: EntryRelease) -> None:
        async with self.gate, self.sessions() as session:
            await entries.release(
                session, request.journey_id, request.customer_id, request.execution_id
            )
            await session.commit()
