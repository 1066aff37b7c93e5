"""Recommendations: `/places/{placeId}/recommendations`, trees of proposed changes that a
shop owner accepts (every change in one transaction) or rejects."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.contract import CONFLICT
from api.deps import AppSettings, CurrentManager, Pagination, Session, TemporalClient
from api.wire import envelope, envelope_models
from journeys.schemas import Resource
from services import recommendations as service
from services.recommendations import RecommendationCreate, Status
from store.recommendations import Tree
from store.tables import Recommendation
from workflows.model.machine import MAX_ID

KIND = "recommendation"
RecommendationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The recommendation's id.")]


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


class AppliedChange(BaseModel):
    """One entity an accept created, updated or deleted, and the node that did it."""

    recommendationId: int
    category: str
    id: int
    localRef: str | None


class AcceptedEnvelope(RecommendationEnvelope):  # type: ignore[misc,valid-type]
    """The accepted recommendation, and what the accept applied, in order."""

    created: list[AppliedChange]
    updated: list[AppliedChange]
    deleted: list[AppliedChange]


router = APIRouter(prefix="/places/{place_id}/recommendations", tags=["recommendations"])


def _out(row: Recommendation, tree: Tree) -> RecommendationOut:
    fields = {**row.model_dump(), "children": [_out(c, tree) for c in tree.below(row)]}
    return RecommendationOut.model_validate(fields)


@router.post("", response_model=None, responses={200: {"model": RecommendationEnvelope}})
async def create_recommendation(
    manager: CurrentManager, session: Session, body: RecommendationCreate
) -> JSONResponse:
    """Propose a change and, in `children` (to any depth), the changes that go with it;
    every node starts `pending`."""
    row, tree = await service.create(session, manager, body)
    return envelope(KIND, [_out(row, tree)])


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
    rows, total, tree = await service.page(
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
    row, tree = await service.get_tree(session, manager.place_id, recommendation_id)
    return envelope(KIND, [_out(row, tree)])


@router.post(
    "/{recommendation_id}/accept",
    response_model=None,
    responses={200: {"model": AcceptedEnvelope}, **CONFLICT},
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
    row, tree, applied = await service.accept(
        session, temporal, settings, manager, recommendation_id
    )
    done = {"created": applied.created, "updated": applied.updated, "deleted": applied.deleted}
    return envelope(KIND, [_out(row, tree)], extra=done)


@router.post(
    "/{recommendation_id}/reject",
    response_model=None,
    responses={200: {"model": RecommendationEnvelope}, **CONFLICT},
)
async def reject_recommendation(
    manager: CurrentManager, session: Session, recommendation_id: RecommendationId
) -> JSONResponse:
    """Dismiss this recommendation and every pending one under it; nothing is applied."""
    row, tree = await service.reject(session, manager.place_id, recommendation_id)
    return envelope(KIND, [_out(row, tree)])
