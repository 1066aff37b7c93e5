"""Replaying recorded histories against the current workflow code.

A change that alters the commands an existing execution issues fails here, so it must be
guarded with `workflow.patched`. Histories are recorded from real runs by the engine tests
when JOURNEYS_SAVE_HISTORIES=1 is set.
"""

import os
from pathlib import Path

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.cleanup import JourneyCleanup
from workflows.journey import JourneyExecution
from workflows.run import RunFanOut

HISTORIES = Path(__file__).parent / "histories"


async def replay(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=[JourneyExecution, JourneyCleanup, RunFanOut],
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)


async def keep(handle: WorkflowHandle, name: str) -> None:
    """Replay a finished execution's history now, and record it if asked to."""
    history = await handle.fetch_history()
    await replay(history)
    if os.environ.get("JOURNEYS_SAVE_HISTORIES") == "1":
        (HISTORIES / f"{name}.json").write_text(history.to_json())
