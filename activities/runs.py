"""The fan-out activity of a manual run: start a page of the run's executions."""

import asyncio
import time

from temporalio import activity
from temporalio.client import Client

from journeys.settings import Settings
from orchestration import launcher
from store import entries, runs
from store.clock import now
from store.db import SessionFactory
from workflows.contracts import FanOutPage, RunInput
from workflows.visibility import START_RUN_PAGE

# The run's `started` figure is written at most this often (and at the end of every page).
PROGRESS_EVERY_SECONDS = 1.0


class RunPages:
    def __init__(self, client: Client, sessions: SessionFactory, settings: Settings) -> None:
        self.client = client
        self.sessions = sessions
        self.settings = settings

    @activity.defn(name=START_RUN_PAGE)
    async def start_run_page(self, request: RunInput) -> FanOutPage:
        """Start the executions of the next page of targeted customers, a bounded number at
        a time, heartbeating how far it got so that a retry resumes there."""
        after, started = request.after, request.started
        resumed = activity.info().heartbeat_details
        if resumed:
            after, started = resumed[0]
        # The run commits before its fan-out starts; it is gone only with its journey.
        if not await self._recorded(request.run_id):
            return FanOutPage(after=after, started=started, done=True)
        async with self.sessions() as session:
            ids = await runs.members_after(
                session, request.run_id, after, self.settings.run_page_size
            )
        reported = time.monotonic()
        step = self.settings.run_concurrency
        for number, chunk in enumerate(ids[i : i + step] for i in range(0, len(ids), step)):
            if number and not await self._recorded(request.run_id):
                # The journey was deleted: its cleanup ends what was started.
                return FanOutPage(after=after, started=started, done=True)
            admitted = await self._admitted(request, chunk)
            await asyncio.gather(*(self._start(request, customer_id) for customer_id in admitted))
            after, started = chunk[-1], started + len(admitted)
            activity.heartbeat((after, started))
            if time.monotonic() - reported >= PROGRESS_EVERY_SECONDS:
                await self._record(request.run_id, started, done=False)
                reported = time.monotonic()
        done = len(ids) < self.settings.run_page_size
        await self._record(request.run_id, started, done=done)
        return FanOutPage(after=after, started=started, done=done)

    async def _admitted(self, request: RunInput, chunk: list[int]) -> list[int]:
        """The customers of `chunk` the journey's entry rules let in (recorded as entries);
        those kept out are counted as the run's `skipped`. A retried chunk admits its own
        executions again, but counts the kept out twice."""
        if request.reentry == "always":
            return chunk
        admitted = []
        stamp = now()
        async with self.sessions() as session:
            for customer_id in chunk:
                execution_id = launcher.run_execution_id(
                    request.journey.id, request.run_id, customer_id
                )
                if await entries.admit(
                    session,
                    request.place_id,
                    request.journey.id,
                    customer_id,
                    execution_id,
                    request.reentry,
                    stamp,
                ):
                    admitted.append(customer_id)
            if len(admitted) < len(chunk):
                await runs.add_skipped(session, request.run_id, len(chunk) - len(admitted))
            await session.commit()
        return admitted

    async def _start(self, request: RunInput, customer_id: int) -> None:
        execution_id = launcher.run_execution_id(request.journey.id, request.run_id, customer_id)
        execution = launcher.run_execution_input(request, customer_id)
        await launcher.start(
            self.client, self.settings, execution_id, execution, run_id=request.run_id
        )

    async def _recorded(self, run_id: str) -> bool:
        async with self.sessions() as session:
            return await runs.is_recorded(session, run_id)

    async def _record(self, run_id: str, started: int, *, done: bool) -> None:
        async with self.sessions() as session:
            if done:
                await runs.complete(session, run_id, started)
            else:
                await runs.record_progress(session, run_id, started)
            await session.commit()
