"""One handler per step type: what the step would do for the customer and how long it would
take, from the loaded `World` alone. Each reuses what the real step runs (the duration
arithmetic, local time, the operators, recipients, consent, rendering) and says in its
detail what happened and why.

`run` picks the handler. Its match covers every type of `Step`: one added there without a
handler here is a mypy error (`_unsupported` takes only what no case matched), and at run
time the walk ends, saying it can't simulate that type yet, instead of failing.
"""

import json
from datetime import datetime, timedelta
from typing import Never

from journeys import local_time, rendering
from journeys.rendering import TemplateError
from services import customer_updates
from services.simulation.context import Done, Halt, Walk, stamp
from services.simulation.schemas import SimulatedCampaign, SimulatedMessage
from services.templates import render_for
from store import consent, customers
from store.tables import Customer, Template
from workflows.model import durations
from workflows.model.interpreter import split_branch
from workflows.model.machine import (
    ConditionStep,
    CreateCampaignStep,
    SendStep,
    SplitStep,
    Step,
    UpdateCustomerStep,
    WaitForConditionStep,
    WaitForDurationStep,
    WaitForEventStep,
    WaitUntilStep,
    WebhookStep,
)
from workflows.model.operators import compare, lookup

Result = Done | Halt


def run(walk: Walk, state: str, step: Step) -> Result:
    match step:
        case SendStep():
            return send(walk, state, step)
        case CreateCampaignStep():
            return create_campaign(walk, state, step)
        case WaitForDurationStep():
            return wait_for_duration(walk, state, step)
        case WaitUntilStep():
            return wait_until(walk, state, step)
        case ConditionStep():
            return condition(walk, state, step)
        case WaitForConditionStep():
            return wait_for_condition(walk, state, step)
        case WaitForEventStep():
            return wait_for_event(walk, state, step)
        case SplitStep():
            return split(walk, state, step)
        case UpdateCustomerStep():
            return update_customer(walk, state, step)
        case WebhookStep():
            return webhook(walk, state, step)
        case _:
            return _unsupported(step)


def _unsupported(step: Never) -> Halt:
    kind = getattr(step, "type", type(step).__name__)
    return Halt("failed", "not simulated", f"the simulation can't run {kind} steps yet")


def send(walk: Walk, state: str, step: SendStep) -> Result:
    """As the send activity would make the message: a per-customer problem (no address,
    unsubscribed, a frequency cap, a template that fails to render) makes it skipped or
    failed and the journey goes on; a marketing message waits out quiet hours first."""
    world, customer, channel = walk.world, walk.world.customer, step.channel
    assert step.template_id is not None  # a saved config names templates by id
    template = world.templates.get(step.template_id)
    problem = _problem(step, template, customer)
    held = ""
    if problem is None and template is not None and template.category == "marketing":
        admitted = _admit(walk, channel)
        if isinstance(admitted, Halt):
            return admitted
        problem, held = admitted
    content: dict[str, str] = {}
    if problem is None and template is not None:
        rendered = _rendered(walk, template, channel)
        if isinstance(rendered, TemplateError):
            problem = "failed", f"template {rendered}"
        else:
            content = rendered
    status, reason = problem or ("sent", None)
    if status == "sent" and template is not None and template.category == "marketing":
        walk.marketing.append((walk.now, channel))
    message = SimulatedMessage(
        channel=channel,
        template_id=step.template_id,
        category=template.category if template else None,
        status=status,
        reason=reason,
        to=list(customers.recipients(channel, customer)[0]),
        subject=content.get("subject"),
        title=content.get("title"),
        body=content.get("body"),
    )
    because = f": {reason}" if reason else ""
    return Done(f"message {status}{because}{held}", message=message)


def _rendered(walk: Walk, template: Template, channel: str) -> dict[str, str] | TemplateError:
    """The template rendered for the customer now, or why it can't be. A loop sends the same
    message over and over: it is rendered once for what its templates see (parsing a large
    template takes tens of milliseconds)."""
    world, customer = walk.world, walk.world.customer
    link = world.links.get(channel, "")
    seen = (template.id, link, walk.event, customer.email, customer.phone, customer.attributes)
    key = json.dumps(seen, sort_keys=True, default=str)
    if key not in walk.rendered:
        try:
            walk.rendered[key] = render_for(
                template, customer, walk.event, world.journey.model_dump(), world.place, link
            )
        except TemplateError as error:
            walk.rendered[key] = error
    return walk.rendered[key]


def _problem(
    step: SendStep, template: Template | None, customer: Customer
) -> tuple[str, str] | None:
    """Why the send activity would not send at all (its order of checks)."""
    if template is None:
        return "skipped", f"template {step.template_id} no longer exists"
    if template.channel != step.channel:
        return "skipped", (
            f"template {step.template_id} is now an {template.channel} template, not {step.channel}"
        )
    _, missing = customers.recipients(step.channel, customer)
    return ("skipped", missing) if missing else None


def _admit(walk: Walk, channel: str) -> tuple[tuple[str, str] | None, str] | Halt:
    """What a marketing message obeys, in the send's order: the customer's consent, the
    quiet hours (waited out, unless an exit event comes first), the frequency cap. The
    problem that stops it, if any, and what the detail says of a hold."""
    if consent.status(walk.world.customer, channel) == "unsubscribed":
        return ("skipped", "unsubscribed"), ""
    held = ""
    until = _quiet_until(walk)
    if until is not None:
        ends = stamp(until)
        if not walk.pause(until):
            return Halt("exited", f"not sent: held for quiet hours until {ends}")
        held = f" after quiet hours until {ends}"
    return (("skipped", "frequency_cap") if _capped(walk, channel) else None), held


def _quiet_until(walk: Walk) -> datetime | None:
    rules = walk.world.rules
    if not rules.quiet_hours:
        return None
    where = walk.world.customer.timezone or rules.timezone
    return local_time.quiet_until(
        walk.now, where, rules.quiet_hours["start"], rules.quiet_hours["end"]
    )


def _capped(walk: Walk, channel: str) -> bool:
    """Whether the place's cap on `channel` is reached by the messages of this walk (the
    messages other journeys would send by then can't be known)."""
    cap = walk.world.rules.frequency_caps.get(channel)
    if not cap:
        return False
    since = walk.now - timedelta(days=cap["per_days"])
    count = sum(1 for at, sent in walk.marketing if sent == channel and at >= since)
    most: int = cap["max"]
    return count >= most


def create_campaign(walk: Walk, state: str, step: CreateCampaignStep) -> Result:
    assert step.campaign_id is not None  # a saved config names campaigns by id
    campaign = walk.world.campaigns.get(step.campaign_id)
    if campaign is None:
        # As the clone activity says it.
        detail = f"skipped: campaign {step.campaign_id} no longer exists"
        return Done(detail, campaign=SimulatedCampaign(campaign_id=step.campaign_id, name=None))
    return Done(
        f"campaign {step.campaign_id} ({campaign.name}) would be cloned as a private campaign "
        "for the customer; nothing was created",
        campaign=SimulatedCampaign(campaign_id=step.campaign_id, name=campaign.name),
    )


def wait_for_duration(walk: Walk, state: str, step: WaitForDurationStep) -> Result:
    try:
        until = durations.wait_until(walk.now, step)
    except (OverflowError, ValueError):  # past the year 9999
        return walk.too_far(state)
    ends = stamp(until)
    if not walk.pause(until):
        return Halt("exited", f"cut short at {stamp(walk.now)}, waiting until {ends}")
    return Done(f"waited {durations.in_words(step)}, until {ends}")


def wait_until(walk: Walk, state: str, step: WaitUntilStep) -> Result:
    rules, customer = walk.world.rules, walk.world.customer
    where = local_time.step_zone(step.timezone, customer.timezone, rules.timezone)
    try:
        at = local_time.next_time(walk.now, where, step.time, step.weekdays)
    except OverflowError:
        return walk.too_far(state)
    except ValueError as error:  # a zone that no longer exists fails the step
        return Halt("failed", f"failed: {error}", f"{state} can't wait: {error}")
    ends = stamp(at)
    if not walk.pause(at):
        return Halt("exited", f"cut short at {stamp(walk.now)}, waiting until {ends}")
    return Done(f"waited until {ends} ({step.time} {where})")


def condition(walk: Walk, state: str, step: ConditionStep) -> Result:
    found, value = lookup(walk.world.customer.attributes, step.attribute)
    try:
        outcome = compare(found, value, step.operator, step.value)
    except ValueError as error:
        return Halt("failed", f"failed: {error}", f"{state} can't be evaluated: {error}")
    test = step.operator if step.operator == "exists" else f"{step.operator} {step.value!r}"
    actual = f"the customer's is {value!r}" if found else "the customer has none"
    return Done(f"{step.attribute} {test}: {outcome} ({actual})", outcome=outcome)


def wait_for_condition(walk: Walk, state: str, step: WaitForConditionStep) -> Result:
    """Until the customer is in an `include` segment and in no `exclude` one, by the
    memberships the timeline gives; one that never comes ends the walk there."""
    timeline, poll = walk.world.timeline, walk.world.poll_seconds
    # As the workflow does: a loop back to this wait pauses one interval before checking.
    if walk.visits[state] > 1 and not walk.pause(walk.now + timedelta(seconds=poll)):
        return Halt("exited", "cut short before checking again")
    include, exclude = step.include, step.exclude
    matched = timeline.next_match(include, exclude, walk.now)
    if matched is None:
        if not walk.pause(None):
            return Halt("exited", "cut short while waiting for the segments")
        wanted = _segments(step)
        return Halt(
            "waiting",
            f"waiting for the customer to be {wanted}",
            f"waits at {state} from {walk.when()} for ever: the customer is never {wanted} "
            "in this simulation (give `segments` to move them)",
        )
    at_once = matched == walk.now
    if not walk.pause(matched):
        return Halt("exited", "cut short while waiting for the segments")
    why = timeline.why(include, exclude, matched)
    if at_once:
        return Done(f"customer matched the segments at once: {why}")
    return Done(f"customer matched the segments at {walk.when()}: {why}")


def _segments(step: WaitForConditionStep) -> str:
    """What the step waits for: "in segment 12 or 15 and not in segment 3"."""
    parts = []
    if step.include:
        parts.append("in segment " + " or ".join(map(str, step.include)))
    if step.exclude:
        parts.append("not in segment " + " or ".join(map(str, step.exclude)))
    return " and ".join(parts)


def wait_for_event(walk: Walk, state: str, step: WaitForEventStep) -> Result:
    """Until the first of the given `events` of the name that arrives from now on (each is
    received once), at most the step's duration; later templates see the one received."""
    try:
        until = durations.wait_until(walk.now, step)
    except (OverflowError, ValueError):  # past the year 9999
        return walk.too_far(state)
    ends = stamp(until)
    arriving = (
        (i, e)
        for i, e in enumerate(walk.world.timeline.events)
        if e.name == step.event and walk.now <= e.at <= until and i not in walk.received
    )
    index, received = next(arriving, (None, None))
    if not walk.pause(received.at if received else until):
        return Halt("exited", f"cut short at {stamp(walk.now)}, waiting for {step.event}")
    if received is None or index is None:
        return Done(f"no {step.event} by {ends}", outcome=False)
    walk.received.add(index)
    walk.event = rendering.event_scope(received.name, None, dict(received.data), None)
    return Done(f"received {step.event} at {walk.when()}", outcome=True)


def split(walk: Walk, state: str, step: SplitStep) -> Result:
    """The branch the execution would take: chosen by its id, as the workflow chooses."""
    branch, point = split_branch(step, walk.world.execution_id, state)
    total = sum(weight for _, weight in step.branches)
    return Done(f"branch {branch} (point {point} of {total})", outcome=branch)


def update_customer(walk: Walk, state: str, step: UpdateCustomerStep) -> Result:
    """The change the step would make, made to the simulated customer (held in memory and
    never stored): later conditions and templates see it."""
    world, customer = walk.world, walk.world.customer
    scope = rendering.message_scope(
        rendering.customer_scope(customer.id, customer.email, customer.phone, customer.attributes),
        walk.event,
        world.journey.model_dump(),
        world.place,
        "",
    )
    try:
        values = customer_updates.rendered(step.assign, scope)
        changes = customer_updates.profile(customer, values, step.unset)
    except customer_updates.NotApplied as error:
        return Done(f"not updated: {error}")
    said = customer_updates.described(values, step.unset)
    changed = customers.apply_profile(customer, changes)
    return Done(f"would {said}; nothing was written" if changed else f"{said} (no change)")


def webhook(walk: Walk, state: str, step: WebhookStep) -> Result:
    """Nothing is called in a simulation: the step is taken as answered 2xx (DONE)."""
    return Done(
        f"would {step.method} {step.url} (not called in a simulation; taken as answered 2xx)",
        outcome=True,
    )
