"""Whole-graph rules: reachability, a reachable end, and no loop that never pauses."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from journeys.errors import Issue

if TYPE_CHECKING:
    from workflows.model.machine import MachineConfig


def reachable(config: MachineConfig) -> list[str]:
    """States reachable from `initial`, in breadth-first order."""
    seen = {config.initial}
    order = [config.initial]
    queue = deque(order)
    while queue:
        for target in config.states[queue.popleft()].on.values():
            if target not in seen:
                seen.add(target)
                order.append(target)
                queue.append(target)
    return order


def loops(config: MachineConfig, names: list[str]) -> list[list[str]]:
    """Strongly connected components of the graph restricted to `names` that contain a cycle
    (Tarjan, iterative); edges leaving `names` are ignored."""
    inside = set(names)

    def successors(name: str) -> Iterator[str]:
        return (target for target in config.states[name].on.values() if target in inside)

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in names:
        if root in index:
            continue
        work = [(root, successors(root))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, successors(child)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                self_loop = node in config.states[node].on.values()
                if len(component) > 1 or self_loop:
                    found.append(component)
    return found


def check_graph(config: MachineConfig, root: str) -> list[Issue]:
    issues: list[Issue] = []
    order = reachable(config)
    seen = set(order)
    for name in config.states:
        if name not in seen:
            issues.append(
                Issue(
                    f"{root}.states.{name}",
                    f"can never run: no path leads here from {config.initial!r}",
                )
            )
    if not any(config.states[name].final for name in order):
        issues.append(
            Issue(
                f"{root}.states",
                f'no final state ("type": "final") can be reached from {config.initial!r}',
            )
        )
    # A loop is safe only if *every* cycle in it pauses. Checking whole strongly connected
    # components would wrongly pass a wait-free cycle that shares a component with a waiting
    # one, so look for cycles among the non-pausing states alone: any found never waits.
    position = {name: i for i, name in enumerate(config.states)}
    busy = [name for name in order if not config.states[name].pauses]
    for component in loops(config, busy):
        members = sorted(component, key=position.__getitem__)
        issues.append(
            Issue(
                f"{root}.states.{members[0]}",
                f"the loop through {', '.join(members)} has no wait step, so it would repeat "
                "without pause; add a wait_for_duration (longer than zero) or wait_for_condition",
            )
        )
    return issues
