"""Recorded histories of real runs replay against the current workflow code."""

import pytest
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError

from tests.workflows.replay import HISTORIES, replay

RECORDED = sorted(HISTORIES.glob("*.json"))
# Histories of code paths that are no longer supported (see the README's upgrade notes).
RETIRED = HISTORIES.parent / "retired"


def test_histories_are_recorded():
    assert len(RECORDED) >= 3


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path):
    await replay(WorkflowHistory.from_json(path.stem, path.read_text()))


async def test_an_execution_from_before_the_cut_off_does_not_replay():
    """The README's upgrade notes: executions started before the `journey-path-search-attribute`
    patch was retired carry its marker, which today's code no longer asks for. A worker of
    this release can't continue them (its workflow task fails and is retried, nothing is
    lost): they must end before the upgrade, as the notes say."""
    path = RETIRED / "split-path-marker.json"
    with pytest.raises(NondeterminismError):
        await replay(WorkflowHistory.from_json(path.stem, path.read_text()))
