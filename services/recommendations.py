"""Recommendations: trees of proposed changes that a shop owner accepts (every change in one
transaction) or rejects."""

from typing import Annotated, Literal

from pydantic import Field, JsonValue, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Conflict, Invalid, Issue
from journeys.outbound import Outbound
from journeys.schemas import Request
from journeys.settings import Settings
from orchestration import handoff
from services import accepting, changes
from services.auth import Manager
from store import recommendations as store
from store.recommendations import Node, Tree, child_path
from store.recommendations import get_tree as get_tree
from store.recommendations import page as page
from store.tables import Recommendation

MAX_NODES = 500
Status = Literal["pending", "accepted", "rejected"]


class RecommendationCreate(Request):
    """One proposed change (create, update or delete one entity) and the changes under it."""

    type: Literal["create", "update", "delete"]
    category: Annotated[str, Field(max_length=64)]
    subcategory: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    rationale: Annotated[str, Field(max_length=10_000)] | None = None
    status: Literal["pending"] = "pending"
    data: dict[str, JsonValue]
    children: Annotated[list["RecommendationCreate"], Field(max_length=MAX_NODES)] = Field(
        default_factory=list
    )

    @field_validator("category")
    @classmethod
    def _managed(cls, category: str) -> str:
        problem = changes.category_problem(category)
        if problem:
            raise ValueError(problem)
        return category


def _nodes(body: RecommendationCreate, manager: Manager, path: str, issues: list[Issue]) -> Node:
    """The body as rows to store, every node's data read as the change it proposes."""
    try:
        changes.check(changes.read(body.type, body.category, body.data))
    except Invalid as problem:
        issues += changes.in_data(path, problem.issues)
    row = Recommendation(
        place_id=manager.place_id,
        user_id=manager.user_id,
        type=body.type,
        category=body.category,
        subcategory=body.subcategory,
        rationale=body.rationale,
        data=body.data,
    )
    return Node(
        row,
        [
            _nodes(child, manager, child_path(path, i), issues)
            for i, child in enumerate(body.children)
        ],
    )


def _rows(node: Node) -> list[Recommendation]:
    return [node.row, *(row for child in node.children for row in _rows(child))]


async def create(
    session: AsyncSession, manager: Manager, body: RecommendationCreate
) -> tuple[Recommendation, Tree]:
    """Store a proposed change and the changes under it (to any depth), every node
    `pending`; each node's data is checked as the change it proposes."""
    issues: list[Issue] = []
    top = _nodes(body, manager, "", issues)
    if len(_rows(top)) > MAX_NODES:
        issues.append(Issue("children", f"a recommendation tree has at most {MAX_NODES} nodes"))
    if issues:
        raise Invalid(issues)
    row = await store.create_tree(session, top)
    return row, Tree.of(_rows(top))


async def _pending(
    session: AsyncSession, place_id: int, recommendation_id: int
) -> tuple[Recommendation, Tree]:
    row, tree = await store.get_tree(session, place_id, recommendation_id, lock=True)
    if row.status != "pending":
        raise Conflict(
            f"Recommendation {recommendation_id} is already {row.status}; a decision is final."
        )
    return row, tree


async def accept(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    manager: Manager,
    recommendation_id: int,
) -> tuple[Recommendation, Tree, accepting.Applied]:
    """Apply this recommendation and every pending one under it, in one transaction (see
    `services.accepting`); any problem applies nothing. Commits before Temporal is asked to
    clean up after deleted journeys (`orchestration.handoff`)."""
    row, tree = await _pending(session, manager.place_id, recommendation_id)
    applied = await accepting.accept(session, temporal, manager, row, tree, Outbound.of(settings))
    store.decide([node for _, node in tree.walk(row)], "accepted")
    if applied.owed:
        await handoff.deliver(temporal, settings, session, applied.owed)
    return row, tree, applied


async def reject(
    session: AsyncSession, place_id: int, recommendation_id: int
) -> tuple[Recommendation, Tree]:
    """Dismiss this recommendation and every pending one under it; nothing is applied."""
    row, tree = await _pending(session, place_id, recommendation_id)
    store.decide([node for _, node in tree.walk(row)], "rejected")
    return row, tree
