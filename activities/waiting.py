"""The central re-check of waiting executions, one round per call (for `WaitingRecheck`)."""

from temporalio import activity
from temporalio.client import Client

from journeys.settings import Settings
from orchestration import waking
from store.db import SessionFactory
from workflows.contracts import RecheckReport
from workflows.visibility import RECHECK_WAITING


class Rechecks:
    def __init__(self, client: Client, sessions: SessionFactory, settings: Settings) -> None:
        self.client = client
        self.sessions = sessions
        self.settings = settings

    @activity.defn(name=RECHECK_WAITING)
    async def recheck_waiting(self) -> RecheckReport:
        tally = await waking.recheck(self.client, self.sessions, self.settings.wait_safety_seconds)
        return RecheckReport(
            conditions=tally.conditions,
            woken=tally.woken,
            forgotten=tally.forgotten,
            failed=tally.failed,
            next_seconds=self.settings.condition_poll_seconds,
        )
