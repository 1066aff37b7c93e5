"""The journey diagram's layout: boxes never overlap, forward arrows point down, and loops
go round the side — for every generated config, and for a 30-state journey."""

from typing import Any

from hypothesis import given, settings

from services.diagram import layout
from tests.helpers.machines import valid_configs
from workflows.model import read_machine_config


def _checked(raw):
    config = read_machine_config(raw)
    drawn = layout(config, lambda name, state: [name])
    boxes = {box.name: box for box in drawn.boxes}
    assert set(boxes) == set(config.states)
    placed = sorted(drawn.boxes, key=lambda b: (b.y, b.x))
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            apart = a.x + a.width <= b.x or b.x + b.width <= a.x
            apart = apart or a.y + a.height <= b.y or b.y + b.height <= a.y
            assert apart, (a.name, b.name)
        assert a.x >= 0 and a.x + a.width <= drawn.width
        assert a.y >= 0 and a.y + a.height <= drawn.height
    for arrow in drawn.arrows:
        if not arrow.back:
            assert boxes[arrow.target].y > boxes[arrow.source].y, arrow
    edges = sum(len(state.on) for state in config.states.values())
    assert len(drawn.arrows) == edges
    return drawn


@settings(max_examples=150, deadline=None)
@given(valid_configs())
def test_generated_configs_are_laid_out_without_overlaps(raw):
    _checked(raw)


def test_thirty_states_stay_readable():
    """Ten conditions in a row, each with a send on one side, rejoining, and a loop back."""
    states: dict[str, Any] = {}
    for i in range(10):
        states[f"check_{i}"] = {
            "meta": {"type": "condition", "attribute": f"a{i}", "operator": "exists"},
            "on": {"TRUE": f"send_{i}", "FALSE": f"wait_{i}"},
        }
        states[f"send_{i}"] = {
            "meta": {"type": "send_email", "templateId": 5},
            "on": {"DONE": f"check_{i + 1}" if i < 9 else "done"},
        }
        states[f"wait_{i}"] = {
            "meta": {"type": "wait_for_duration", "days": 1},
            "on": {
                "ELAPSED": f"check_{i}" if i % 3 == 0 else f"check_{i + 1}" if i < 9 else "done"
            },
        }
    states["done"] = {"type": "final"}
    drawn = _checked({"initial": "check_0", "states": states})
    assert len(drawn.boxes) == 31
    # Two boxes side by side at most: as wide as a screen, however long the journey.
    assert drawn.width < 1400
    assert sum(arrow.back for arrow in drawn.arrows) == 4
