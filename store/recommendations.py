"""Recommendation trees: stored node by node, loaded and decided a whole tree at a time."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.clock import now
from store.tables import Recommendation


@dataclass
class Node:
    """A node to store and the nodes under it, in their given order."""

    row: Recommendation
    children: list["Node"] = field(default_factory=list)


async def create_tree(session: AsyncSession, top: Node) -> Recommendation:
    """Store `top` and every node under it; each row learns its root, parent and position."""
    await crud.create(session, top.row)
    level = [top]
    while level:
        below: list[Node] = []
        for parent in level:
            for position, child in enumerate(parent.children):
                child.row.root_id = top.row.id
                child.row.parent_id = parent.row.id
                child.row.position = position
                child.row.created = child.row.updated = top.row.created
                session.add(child.row)
                below.append(child)
        # One flush a level: a level's parents have their ids before their children go in.
        await session.flush()
        level = below
    return top.row


@dataclass(frozen=True)
class Tree:
    """The rows of whole trees, with each node's children in order."""

    rows: dict[int, Recommendation]
    children: dict[int | None, list[Recommendation]]

    @classmethod
    def of(cls, rows: Iterable[Recommendation]) -> "Tree":
        by_id = {row.id: row for row in rows if row.id is not None}
        children: dict[int | None, list[Recommendation]] = {}
        for row in sorted(by_id.values(), key=lambda r: r.position):
            children.setdefault(row.parent_id, []).append(row)
        return cls(by_id, children)

    def below(self, row: Recommendation) -> list[Recommendation]:
        return self.children.get(row.id, [])

    def walk(self, top: Recommendation, path: str = "") -> list[tuple[str, Recommendation]]:
        """`top` and every node under it, depth first in the given order, each with its path
        from `top` (`children.0.children.1`; "" for `top` itself)."""
        found = [(path, top)]
        for i, child in enumerate(self.below(top)):
            found += self.walk(child, child_path(path, i))
        return found


def child_path(path: str, position: int) -> str:
    """The path of a node's child at `position`, as request bodies and problems name it."""
    return f"{path}.children.{position}" if path else f"children.{position}"


async def get_tree(
    session: AsyncSession, place_id: int, recommendation_id: int, *, lock: bool = False
) -> tuple[Recommendation, Tree]:
    """The recommendation and the whole tree it belongs to (locked, for deciding it)."""
    row = await crud.get(session, Recommendation, place_id, recommendation_id)
    trees = await load_trees(session, [row.root_id or recommendation_id], lock=lock)
    return trees.rows[recommendation_id], trees


async def load_trees(session: AsyncSession, root_ids: Sequence[int], *, lock: bool = False) -> Tree:
    if not root_ids:
        return Tree.of([])
    query = select(Recommendation).where(
        or_(col(Recommendation.id).in_(root_ids), col(Recommendation.root_id).in_(root_ids))
    )
    if lock:
        # Refreshed once the lock is held: the rows may already be in the session as they
        # were before another transaction decided them.
        query = query.with_for_update().execution_options(populate_existing=True)
    return Tree.of(await session.exec(query))


async def page(
    session: AsyncSession,
    place_id: int,
    *,
    offset: int,
    limit: int,
    status: str | None = None,
    category: str | None = None,
    subcategory: str | None = None,
    top_level: bool = False,
) -> tuple[list[Recommendation], int, Tree]:
    """One page of the place's recommendations (ordered by id), the total, and their trees."""
    conditions: list[Any] = [Recommendation.place_id == place_id]
    filters = {"status": status, "category": category, "subcategory": subcategory}
    conditions += [getattr(Recommendation, k) == v for k, v in filters.items() if v is not None]
    if top_level:
        conditions.append(col(Recommendation.parent_id).is_(None))
    rows, total = await crud.page(session, Recommendation, conditions, offset=offset, limit=limit)
    roots = sorted({row.root_id or row.id for row in rows if row.id is not None})
    return rows, total, await load_trees(session, roots)


def decide(rows: Iterable[Recommendation], status: str) -> None:
    """Move pending rows to `status`; a decision is final."""
    stamp = now()
    for row in rows:
        if row.status == "pending":
            row.status = status
            row.updated = stamp
