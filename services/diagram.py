"""A journey's `machineConfig` as a diagram: states as boxes in layers from the initial state
down, transitions as labelled arrows. Pure geometry (the console draws it as SVG).

Layers are the longest path from the initial state over the graph without its back edges (the
edges that close a loop, found by a depth-first walk), so every forward arrow points down;
within a layer, boxes sit under the average position of what leads to them (one barycentre
sweep), which keeps a 30-state journey's arrows short and mostly uncrossed. Back edges and
arrows within a layer go round the right-hand side.
"""

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workflows.model import MachineConfig
from workflows.model.graph import reachable
from workflows.model.machine import State

BOX_WIDTH = 230
LINE_HEIGHT = 17
PADDING = 10
GAP_X = 50
GAP_Y = 64
MARGIN = 24
# Room kept in every box for the live counts: executions, then messages or exits.
COUNT_LINES = 2


@dataclass
class Box:
    name: str
    kind: str  # the step type, or "final"
    lines: list[str]  # what the step does, in words
    x: float = 0
    y: float = 0
    width: float = BOX_WIDTH
    height: float = 0

    @property
    def final(self) -> bool:
        return self.kind == "final"

    @property
    def centre(self) -> float:
        return self.x + self.width / 2


@dataclass
class Arrow:
    source: str
    target: str
    label: str
    path: str  # SVG path data
    label_x: float
    label_y: float
    back: bool  # closes a loop (or stays in its layer): drawn round the side


@dataclass
class Diagram:
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    width: float = 0
    height: float = 0


def _back_edges(config: MachineConfig, order: Sequence[str]) -> set[tuple[str, str]]:
    """Edges to a state still on the depth-first walk's stack: each closes a loop."""
    back: set[tuple[str, str]] = set()
    done: set[str] = set()
    for root in order:
        if root in done:
            continue
        on_stack = {root}
        stack = [(root, iter(config.states[root].on.values()))]
        done.add(root)
        while stack:
            node, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                stack.pop()
                on_stack.discard(node)
            elif target in on_stack:
                back.add((node, target))
            elif target not in done:
                done.add(target)
                on_stack.add(target)
                stack.append((target, iter(config.states[target].on.values())))
    return back


def _layers(
    config: MachineConfig, order: Sequence[str], back: set[tuple[str, str]]
) -> dict[str, int]:
    """Each state's layer: the longest forward path to it from a root."""
    incoming = {name: 0 for name in order}
    for name in order:
        for target in config.states[name].on.values():
            if (name, target) not in back and target in incoming:
                incoming[target] += 1
    layer = dict.fromkeys(order, 0)
    ready = deque(name for name in order if incoming[name] == 0)
    while ready:
        name = ready.popleft()
        for target in dict.fromkeys(config.states[name].on.values()):
            if (name, target) in back or target not in incoming:
                continue
            layer[target] = max(layer[target], layer[name] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return layer


def layout(config: MachineConfig, describe: Callable[[str, State], list[str]]) -> Diagram:
    """The diagram of `config`; `describe` gives each state's lines of text."""
    order = reachable(config)
    order += [name for name in config.states if name not in order]
    back = _back_edges(config, order)
    layer = _layers(config, order, back)
    rows: dict[int, list[str]] = {}
    for name in order:
        rows.setdefault(layer[name], []).append(name)

    boxes: dict[str, Box] = {}
    for name in order:
        state = config.states[name]
        lines = describe(name, state)
        height = PADDING * 2 + LINE_HEIGHT * (2 + len(lines) + COUNT_LINES)
        kind = state.step.type if state.step else "final"
        boxes[name] = Box(name=name, kind=kind, lines=lines, height=height)

    # One barycentre sweep: a state sits under the mean slot of the states leading to it.
    slot: dict[str, float] = {}
    predecessors: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        for target in config.states[name].on.values():
            if (name, target) not in back and target in predecessors:
                predecessors[target].append(name)
    for index in sorted(rows):
        row = rows[index]
        for position, name in enumerate(row):
            above = [slot[p] for p in predecessors[name] if p in slot]
            slot[name] = sum(above) / len(above) if above else float(position)
        row.sort(key=lambda name: (slot[name], order.index(name)))
        for position, name in enumerate(row):
            slot[name] = float(position)

    widest = max(len(row) for row in rows.values())
    full_width = widest * BOX_WIDTH + (widest - 1) * GAP_X
    y = float(MARGIN)
    for index in sorted(rows):
        row = rows[index]
        row_width = len(row) * BOX_WIDTH + (len(row) - 1) * GAP_X
        x = MARGIN + (full_width - row_width) / 2
        tallest = max(boxes[name].height for name in row)
        for name in row:
            boxes[name].x, boxes[name].y = x, y
            x += BOX_WIDTH + GAP_X
        y += tallest + GAP_Y

    arrows: list[Arrow] = []
    detour = 0
    for name in order:
        source = boxes[name]
        for event, goes_to in config.states[name].on.items():
            if (name, goes_to) in back or layer[goes_to] <= layer[name]:
                detour += 1
                arrows.append(_round_the_side(source, boxes[goes_to], event, detour))
            else:
                arrows.append(_down(source, boxes[goes_to], event))
    diagram = Diagram(boxes=list(boxes.values()), arrows=arrows)
    diagram.width = MARGIN * 2 + full_width + 40 + 14 * detour
    diagram.height = y - GAP_Y + MARGIN
    return diagram


def _down(source: Box, target: Box, label: str) -> Arrow:
    sx, sy = source.centre, source.y + source.height
    tx, ty = target.centre, target.y
    bend = (ty - sy) / 2
    path = (
        f"M {sx:.0f} {sy:.0f} C {sx:.0f} {sy + bend:.0f}, {tx:.0f} {ty - bend:.0f}, "
        f"{tx:.0f} {ty:.0f}"
    )
    # The curve's midpoint: (P0 + 3 P1 + 3 P2 + P3) / 8.
    mx, my = (sx + tx) / 2, (sy + ty) / 2
    return Arrow(source.name, target.name, label, path, mx, my, back=False)


def _round_the_side(source: Box, target: Box, label: str, nth: int) -> Arrow:
    sx, sy = source.x + source.width, source.y + source.height / 2
    tx, ty = target.x + target.width, target.y + target.height / 2
    reach = 40 + 14 * nth
    path = (
        f"M {sx:.0f} {sy:.0f} C {sx + reach:.0f} {sy:.0f}, {tx + reach:.0f} {ty:.0f}, "
        f"{tx:.0f} {ty + 6:.0f}"
    )
    mx = (sx + 3 * (sx + reach) + 3 * (tx + reach) + tx) / 8
    my = (sy + 3 * sy + 3 * ty + ty) / 8
    return Arrow(source.name, target.name, label, path, mx, my, back=True)
