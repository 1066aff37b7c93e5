"""Recorded histories of real runs replay against the current workflow code."""

import pytest
from temporalio.client import WorkflowHistory

from tests.workflows.replay import HISTORIES, replay

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded():
    assert len(RECORDED) >= 3


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path):
    await replay(WorkflowHistory.from_json(path.stem, path.read_text()))
