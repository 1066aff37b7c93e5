"""What one recommendation does: its `type`, `category` and `data` read as the change it
proposes, with the request models of the entity's own endpoints.

Read and checked when the recommendation is created (so a malformed proposal is refused at
once), read again when it is accepted. Whether its targets, refs and journey config hold is
a question about the place as it is at the accept, so that is checked there, not here.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from journeys.errors import Invalid, Issue
from journeys.schemas import Request, issues_from
from services import campaigns, journeys, segments, templates
from services.local_refs import CAMPAIGN, SEGMENT, TEMPLATE
from workflows.model import MANUAL
from workflows.model.machine import MAX_ID, MAX_NAME

JOURNEY = "journey"
CATEGORIES = (JOURNEY, TEMPLATE, SEGMENT, CAMPAIGN)
# The platform's other categories, which other services apply.
FOREIGN = ("item", "section", "targeting_rule", "targeting_assignment", "collection")
TYPES = ("create", "update", "delete")
MANUAL_ALWAYS_ACTIVE = "manual journeys are always active; they run only when /run is called"
NOUNS = {JOURNEY: "journey", TEMPLATE: "template", SEGMENT: "segment", CAMPAIGN: "campaign"}

MODELS: dict[tuple[str, str], type[Request]] = {
    (JOURNEY, "create"): journeys.JourneyCreate,
    (JOURNEY, "update"): journeys.JourneyUpdate,
    (TEMPLATE, "create"): templates.TemplateCreate,
    (TEMPLATE, "update"): templates.TemplateUpdate,
    (SEGMENT, "create"): segments.SegmentCreate,
    (SEGMENT, "update"): segments.SegmentUpdate,
    (CAMPAIGN, "create"): campaigns.CampaignCreate,
    (CAMPAIGN, "update"): campaigns.CampaignUpdate,
}


def in_data(node_path: str, issues: list[Issue]) -> list[Issue]:
    """Issues found in a node's data, at their path from the top of the tree
    (`children.0.data.name`; `data.name` for the top itself)."""
    return [Issue(data_path(node_path, issue.path), issue.message) for issue in issues]


def data_path(node_path: str, where: str) -> str:
    return ".".join(part for part in (node_path, "data", where) if part)


def category_problem(category: str) -> str | None:
    if category in CATEGORIES:
        return None
    managed = ", ".join(CATEGORIES)
    if category in FOREIGN:
        return f"this service does not manage {category} recommendations; it applies {managed}"
    return f"must be one of {managed}"


@dataclass(frozen=True)
class Change:
    type: str
    category: str
    target: int | None  # the entity an update or delete acts on
    body: Any  # the entity endpoint's request model; None for a delete
    local_ref: str | None
    active: bool | None  # a journey's: start (true) or stop (false) it
    config_key: str  # how `data` spells machine_config, for the paths of its problems


def read(type_: str, category: str, data: dict[str, Any]) -> Change:
    """The change `data` describes; `Invalid` with paths relative to `data` if malformed."""
    rest = dict(data)
    issues: list[Issue] = []
    noun = NOUNS[category]
    target = None
    if type_ != "create":
        if "id" not in rest:
            issues.append(Issue("id", f"is required: the id of the {noun} to {type_}"))
        else:
            target = _id(rest.pop("id"), issues)
    local_ref = _local_ref(type_, category, rest, issues)
    active = None
    if category == JOURNEY and type_ != "delete" and "active" in rest:
        value = rest.pop("active")
        if isinstance(value, bool):
            active = value
        else:
            issues.append(Issue("active", "must be true (start the journey) or false (stop it)"))
    body = None
    if type_ == "delete":
        issues += [Issue(key, "a delete takes only the id of what it deletes") for key in rest]
    else:
        try:
            body = MODELS[category, type_].model_validate(rest)
        except ValidationError as error:
            issues += issues_from(error.errors())
    if issues:
        raise Invalid(issues)
    key = "machineConfig" if "machineConfig" in data else "machine_config"
    return Change(type_, category, target, body, local_ref, active, key)


def check(change: Change) -> None:
    """The checks a change passes on its own, whatever the place holds, run when it is
    proposed (at the accept, the entity's own create and update run them again). A journey's
    machine_config is not among them: until the tree's refs resolve it can't be judged (a
    templateRef's channel, say), so it is checked whole at the accept."""
    if change.category == TEMPLATE and change.body is not None:
        templates.check_body(change.body)
    elif change.category == SEGMENT and change.body is not None:
        segments.check_body(change.body)
    elif change.active is False and getattr(change.body, "trigger_event", None) == MANUAL:
        raise Invalid([Issue("active", MANUAL_ALWAYS_ACTIVE)])


def _id(value: Any, issues: list[Issue]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        issues.append(Issue("id", "must be a positive integer: the id of an existing entity"))
        return None
    return value


def _local_ref(type_: str, category: str, rest: dict[str, Any], issues: list[Issue]) -> str | None:
    found = None
    for key in ("localRef", "local_ref"):
        if key not in rest:
            continue
        value = rest.pop(key)
        if category == JOURNEY:
            issues.append(Issue(key, "only templates, segments and campaigns have a localRef"))
        elif type_ == "delete":
            issues.append(Issue(key, f"a deleted {NOUNS[category]} can't be referred to"))
        elif not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            issues.append(
                Issue(key, f"must be a non-empty string of at most {MAX_NAME} characters")
            )
        elif found is not None:
            issues.append(Issue(key, "give localRef once"))
        else:
            found = value
    return found
