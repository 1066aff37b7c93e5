"""Recorded histories of real runs replay against the current workflow code."""

import pytest
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError

from tests.workflows.replay import HISTORIES, replay

RECORDED = sorted(HISTORIES.glob("*.json"))
# Histories of code paths that are no longer supported (see the README's upgrade notes).
RETIRED_HISTORIES = sorted((HISTORIES.parent / "retired").glob("*.json"))


def test_histories_are_recorded():
    assert len(RECORDED) >= 3


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path):
    await replay(WorkflowHistory.from_json(path.stem, path.read_text()))


@pytest.mark.parametrize("path", RETIRED_HISTORIES, ids=[p.stem for p in RETIRED_HISTORIES])
async def test_an_execution_from_before_the_cut_off_does_not_replay(path):
    """The README's upgrade notes: executions started before the `journey-path-search-attribute`
    patch was retired carry its marker, which today's code no longer asks for, so a worker of
    this release can't continue them (its workflow task fails and is retried; nothing is lost).
    These are the histories recorded before the cut-off, kept to show exactly that."""
    with pytest.raises(NondeterminismError):
        await replay(WorkflowHistory.from_json(path.stem, path.read_text()))
