"""Accepting a recommendation: every pending node under it applied in one transaction.

The order makes refs and checks independent of where a node sits in the tree: templates,
segments and campaigns are created and updated first (so every `localRef` has an id), then
deleted; then journeys are created, updated and deleted, their configs resolved and checked
against the place as the tree leaves it; last, no journey outside the tree may still wait on
a deleted segment. Every problem is collected with its path from the accepted node; if there
is any, `Invalid` is raised and the session's rollback undoes the lot. Temporal is only told
(to end a deleted journey's executions) once everything has held.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Invalid, Issue, NotFound
from journeys.outbound import Outbound
from orchestration import handoff
from services import campaigns, changes, journeys, segments, templates, usage
from services.auth import Manager
from services.changes import JOURNEY, NOUNS, Change
from services.local_refs import CAMPAIGN, SEGMENT, TEMPLATE, LocalRefs
from store import crud
from store import journeys as journey_store
from store.recommendations import Tree
from store.tables import Campaign, Journey, OwedStart, Recommendation, Segment, Template
from workflows.model import MANUAL

MODELS: dict[str, Any] = {TEMPLATE: Template, SEGMENT: Segment, CAMPAIGN: Campaign}
USED: dict[str, usage.Used] = {TEMPLATE: "template", SEGMENT: "segment", CAMPAIGN: "campaign"}
CREATE: dict[str, Any] = {
    TEMPLATE: templates.create,
    SEGMENT: segments.create,
    CAMPAIGN: campaigns.create,
}
UPDATE: dict[str, Any] = {
    TEMPLATE: templates.update,
    SEGMENT: segments.update,
    CAMPAIGN: campaigns.update,
}


@dataclass
class Node:
    path: str  # from the accepted node: "" for itself, then `children.0.children.1`
    row: Recommendation
    change: Change

    def at(self, where: str) -> str:
        return changes.data_path(self.path, where)


@dataclass
class Applied:
    """What an accept did, by kind of change, in the order it was applied."""

    created: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    # The cleanups of deleted journeys, for the caller to deliver once it has committed.
    owed: list[OwedStart] = field(default_factory=list)

    def add(self, node: Node, entity_id: int) -> None:
        node.row.entity_id = entity_id
        getattr(self, f"{node.change.type}d").append(
            {
                "recommendationId": node.row.id,
                "category": node.change.category,
                "id": entity_id,
                "localRef": node.change.local_ref,
            }
        )


class _Accept:
    def __init__(
        self,
        session: AsyncSession,
        manager: Manager,
        top: Recommendation,
        tree: Tree,
        outbound: Outbound,
    ) -> None:
        self.session = session
        self.manager = manager
        self.outbound = outbound
        self.top = top
        self.tree = tree
        self.issues: list[Issue] = []
        self.refs = LocalRefs()
        self.applied = Applied()
        self.doomed: list[Journey] = []  # journeys to delete once everything has held
        self.rechecked: set[int] = set()  # journeys whose config was checked as the tree left it

    def nodes(self) -> list[Node]:
        found = []
        for path, row in self.tree.walk(self.top):
            if row.status != "pending":
                continue
            try:
                change = changes.read(row.type, row.category, row.data)
            except Invalid as problem:
                self.issues += changes.in_data(path, problem.issues)
                continue
            found.append(Node(path, row, change))
        return found

    def name_refs(self, nodes: list[Node]) -> None:
        """Refs of nodes accepted before (their entities exist) and of the nodes now
        accepted (their ids come as they are applied): each must name one node."""
        owners: dict[str, list[Node]] = {}
        for node in nodes:
            if node.change.local_ref is not None:
                owners.setdefault(node.change.local_ref, []).append(node)
        earlier: dict[str, int | None] = {}
        for row in self.tree.rows.values():
            ref = _accepted_ref(row)
            if ref is not None and row.entity_id is not None:
                earlier[ref] = row.id
                if ref not in owners:
                    self.refs.add(ref, row.category, row.entity_id)
        for ref, named in owners.items():
            if len(named) == 1 and ref not in earlier:
                continue
            others = [n.path or "the accepted recommendation" for n in named]
            if ref in earlier:
                others.append(f"recommendation {earlier[ref]} (accepted before)")
            for node in named:
                self.issues.append(
                    Issue(
                        node.at("localRef"),
                        f"localRef {ref!r} is given more than once in the tree: "
                        + ", ".join(others),
                    )
                )

    async def run(self, node: Node, step: Any) -> None:
        """Apply one node; its problems are collected with their path from the top."""
        try:
            await step(node)
            return
        except Invalid as problem:
            self.issues += changes.in_data(node.path, problem.issues)
        except NotFound:
            noun = NOUNS[node.change.category]
            self.issues.append(
                Issue(node.at("id"), f"{noun} {node.change.target} does not exist in this place")
            )
        if node.change.local_ref is not None:
            self.refs.fail(node.change.local_ref, node.change.category, node.path)

    def one_change_each(self, nodes: list[Node]) -> list[Node]:
        """The nodes to apply: each entity is updated or deleted by one node of a tree at
        most (two changes to one thing would leave the outcome to the order they are applied
        in), so nodes sharing a target are reported, and not applied."""
        by_target: dict[tuple[str, int], list[Node]] = {}
        for node in nodes:
            if node.change.target is not None:
                key = (node.change.category, node.change.target)
                by_target.setdefault(key, []).append(node)
        clashing: set[int] = set()
        for (category, target), named in by_target.items():
            if len(named) < 2:
                continue
            clashing |= {id(node) for node in named}
            where = ", ".join(n.path or "the accepted recommendation" for n in named)
            for node in named:
                self.issues.append(
                    Issue(
                        node.at("id"),
                        f"{NOUNS[category]} {target} is changed by more than one "
                        f"recommendation of the tree ({where}); a tree changes each once",
                    )
                )
        return [node for node in nodes if id(node) not in clashing]

    async def lock_targets(self, nodes: list[Node]) -> None:
        """Lock every row the tree updates or deletes, table by table in id order, before
        touching any: two accepts over the same rows then queue instead of deadlocking."""
        for category, model in (*MODELS.items(), (JOURNEY, Journey)):
            ids = sorted(
                n.change.target
                for n in nodes
                if n.change.category == category and n.change.target is not None
            )
            if ids:
                await crud.lock_ids(self.session, model, self.manager.place_id, ids)

    async def target(self, node: Node) -> Any:
        model = Journey if node.change.category == JOURNEY else MODELS[node.change.category]
        assert node.change.target is not None
        return await crud.get(
            self.session, model, self.manager.place_id, node.change.target, lock=True
        )

    async def put(self, node: Node) -> None:
        """Create or update a template, segment or campaign."""
        change = node.change
        if change.type == "create":
            entity = await CREATE[change.category](self.session, self.manager.place_id, change.body)
        else:
            entity = await UPDATE[change.category](
                self.session, await self.target(node), change.body
            )
        self.applied.add(node, entity.id)
        if change.local_ref is not None:
            self.refs.add(change.local_ref, change.category, entity.id)

    async def remove(self, node: Node) -> None:
        """Delete a template, segment or campaign (whether a segment is still used is
        known once the journeys are done)."""
        entity = await self.target(node)
        self.applied.add(node, entity.id)
        await crud.delete(self.session, entity)

    async def journey(self, node: Node) -> None:
        change = node.change
        if change.type == "delete":
            journey = await self.target(node)
            self.applied.add(node, journey.id)
            self.doomed.append(journey)
            return
        if change.type == "create":
            journey = await journeys.create(
                self.session,
                self.manager,
                change.body,
                active=bool(change.active),
                root=change.config_key,
                refs=self.refs,
                outbound=self.outbound,
            )
        else:
            journey = await journeys.update(
                self.session,
                await self.target(node),
                change.body,
                root=change.config_key,
                refs=self.refs,
                outbound=self.outbound,
                user_id=self.manager.user_id,
            )
            if change.active is not None:
                if journey.trigger_event == MANUAL and not change.active:
                    raise Invalid([Issue("active", changes.MANUAL_ALWAYS_ACTIVE)])
                await journey_store.update(self.session, journey, {"active": change.active})
        assert journey.id is not None
        if change.type == "create" or "machine_config" in change.body.model_fields_set:
            self.rechecked.add(journey.id)
        self.applied.add(node, journey.id)

    async def still_used(self, nodes: list[Node]) -> None:
        """A deleted template, segment or campaign that a journey still names (a journey
        whose config the tree changed has had that reported already; a deleted one doesn't
        count)."""
        touched = self.rechecked | {journey.id for journey in self.doomed}
        for node in nodes:
            what = node.change.category
            if node.change.type != "delete" or what not in USED:
                continue
            assert node.change.target is not None
            users = [
                journey_id
                for journey_id in await usage.journeys_using(
                    self.session, self.manager.place_id, USED[what], node.change.target
                )
                if journey_id not in touched
            ]
            if users:
                message = usage.in_use(USED[what], node.change.target, users)
                self.issues.append(Issue(node.at("id"), message))


async def accept(
    session: AsyncSession,
    temporal: Client,
    manager: Manager,
    top: Recommendation,
    tree: Tree,
    outbound: Outbound,
) -> Applied:
    """Apply every pending node under `top` (and `top`), or nothing: `Invalid` names every
    problem. The caller commits, then delivers `Applied.owed` (`orchestration.handoff`)."""
    work = _Accept(session, manager, top, tree, outbound)
    nodes = work.nodes()
    work.name_refs(nodes)
    nodes = work.one_change_each(nodes)
    await work.lock_targets(nodes)
    others = [n for n in nodes if n.change.category != JOURNEY]
    for node in others:
        if node.change.type != "delete":
            await work.run(node, work.put)
    for node in others:
        if node.change.type == "delete":
            await work.run(node, work.remove)
    for node in nodes:
        if node.change.category == JOURNEY:
            await work.run(node, work.journey)
    await work.still_used(nodes)
    if work.issues:
        raise Invalid(work.issues, "The recommendation can't be accepted; nothing was applied.")
    if work.doomed:
        await handoff.ready(temporal)
    for journey in work.doomed:
        work.applied.owed.append(await journeys.remove(session, journey))
    return work.applied


def _accepted_ref(row: Recommendation) -> str | None:
    if row.status != "accepted":
        return None
    ref = row.data.get("localRef", row.data.get("local_ref"))
    return ref if isinstance(ref, str) else None
