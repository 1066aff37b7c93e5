"""Recommendations: `/places/{placeId}/recommendations`, trees of proposed changes that a
shop owner accepts (every change in one transaction) or rejects."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import Field, JsonValue, field_validator

from api import accepting, changes
from api.deps import AppSettings, CurrentManager, Pagination, Session, TemporalClient
from api.wire import Resource, envelope, envelope_models
from journeys.errors import Conflict, Invalid, Issue
from journeys.schemas import Request
from store import recommendations as store
from store.recommendations import Node, Tree, child_path
from store.tables import Recommendation
from workflows.model.machine import MAX_ID

KIND = "recommendation"
MAX_NODES = 500
RecommendationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The recommendation's id.")]
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


class RecommendationOut(Resource):
    id: int
    place_id: int
    user_id: int
    parent_id: int | None
    type: str
    category: str
    subcategory: str | None
    rationale: str | None
    status: str
    data: dict[str, Any]
    entity_id: int | None = Field(description="What the accept created, updated or deleted.")
    created: int
    updated: int
    children: list["RecommendationOut"]


RecommendationEnvelope, RecommendationPage = envelope_models(KIND, RecommendationOut)
router = APIRouter(prefix="/places/{place_id}/recommendations", tags=["recommendations"])


def _out(row: Recommendation, tree: Tree) -> RecommendationOut:
    fields = {**row.model_dump(), "children": [_out(c, tree) for c in tree.below(row)]}
    return RecommendationOut.model_validate(fields)


def _nodes(
    body: RecommendationCreate, manager: CurrentManager, path: str, issues: list[Issue]
) -> Node:
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


@router.post("", response_model=None, responses={200: {"model": RecommendationEnvelope}})
async def create_recommendation(
    manager: CurrentManager, session: Session, body: RecommendationCreate
) -> JSONResponse:
    """Propose a change and, in `children` (to any depth), the changes that go with it;
    every node starts `pending`."""
    issues: list[Issue] = []
    top = _nodes(body, manager, "", issues)
    if len(_rows(top)) > MAX_NODES:
        issues.append(Issue("children", f"a recommendation tree has at most {MAX_NODES} nodes"))
    if issues:
        raise Invalid(issues)
    row = await store.create_tree(session, top)
    return envelope(KIND, [_out(row, Tree.of(_rows(top)))])


@router.get("", response_model=None, responses={200: {"model": RecommendationPage}})
async def list_recommendations(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    status: Annotated[Status | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    subcategory: Annotated[str | None, Query(max_length=64)] = None,
    top_level: Annotated[
        bool, Query(description="Only the tops of trees, not the nodes under them.")
    ] = False,
) -> JSONResponse:
    """List recommendations, ordered by id, each with the nodes under it (paginated; filter
    by status, category, subcategory; `top_level=true` lists whole trees once)."""
    rows, total, tree = await store.page(
        session,
        manager.place_id,
        offset=paging.offset,
        limit=paging.per_page,
        status=status,
        category=category,
        subcategory=subcategory,
        top_level=top_level,
    )
    return envelope(KIND, [_out(row, tree) for row in rows], paging.meta(total))


@router.get(
    "/{recommendation_id}", response_model=None, responses={200: {"model": RecommendationEnvelope}}
)
async def get_recommendation(
    manager: CurrentManager, session: Session, recommendation_id: RecommendationId
) -> JSONResponse:
    """Get one recommendation with the nodes under it."""
    row, tree = await store.get_tree(session, manager.place_id, recommendation_id)
    return envelope(KIND, [_out(row, tree)])


async def _pending(
    session: Session, manager: CurrentManager, recommendation_id: int
) -> tuple[Recommendation, Tree]:
    row, tree = await store.get_tree(session, manager.place_id, recommendation_id, lock=True)
    if row.status != "pending":
        raise Conflict(
            f"Recommendation {recommendation_id} is already {row.status}; a decision is final."
        )
    return row, tree


@router.post(
    "/{recommendation_id}/accept",
    response_model=None,
    responses={200: {"model": RecommendationEnvelope}},
)
async def accept_recommendation(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    recommendation_id: RecommendationId,
) -> JSONResponse:
    """Apply this recommendation and every pending one under it, in one transaction: refs
    (`templateRef`, `segmentRef`, `campaignRef`) become the ids of what the tree creates,
    each journey's config is checked as a PUT would; any problem applies nothing (422,
    every problem's path). The answer lists what was created, updated and deleted."""
    row, tree = await _pending(session, manager, recommendation_id)
    applied = await accepting.accept(session, temporal, settings, manager, row, tree)
    store.decide([node for _, node in tree.walk(row)], "accepted")
    done = {"created": applied.created, "updated": applied.updated, "deleted": applied.deleted}
    return envelope(KIND, [_out(row, tree)], extra=done)


@router.post(
    "/{recommendation_id}/reject",
    response_model=None,
    responses={200: {"model": RecommendationEnvelope}},
)
async def reject_recommendation(
    manager: CurrentManager, session: Session, recommendation_id: RecommendationId
) -> JSONResponse:
    """Dismiss this recommendation and every pending one under it; nothing is applied."""
    row, tree = await _pending(session, manager, recommendation_id)
    store.decide([node for _, node in tree.walk(row)], "rejected")
    return envelope(KIND, [_out(row, tree)])
