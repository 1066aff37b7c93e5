"""What a simulation walks with: the inputs, loaded once (`World`), and the walk's own state
that step handlers read and move on (`Walk`: the clock, visits, the event templates see)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from journeys.rendering import TemplateError
from services.simulation.schemas import Ending, SimulatedCampaign, SimulatedMessage
from services.simulation.timeline import Received, Timeline
from store.tables import Campaign, Customer, PlaceSettings, Template
from workflows.contracts import JourneyInfo
from workflows.model import MachineConfig
from workflows.model.interpreter import Outcome


@dataclass(frozen=True)
class Goal:
    event: str
    within_days: int


@dataclass(frozen=True)
class World:
    """Everything the walk reads, loaded before it starts: it reads nothing else."""

    journey: JourneyInfo
    config: MachineConfig
    execution_id: str
    place: Mapping[str, Any]  # as templates see it: id and name
    rules: PlaceSettings  # time zone, quiet hours, frequency caps
    customer: Customer  # stored, or described (id 0); never written
    templates: Mapping[int, Template]
    campaigns: Mapping[int, Campaign]
    timeline: Timeline
    trigger: Mapping[str, Any]  # the trigger event as templates see it
    links: Mapping[str, str]  # the unsubscribe link a message carries, by channel
    exit_events: frozenset[str]
    goal: Goal | None
    max_steps: int
    poll_seconds: int  # a wait_for_condition met again pauses this long first


@dataclass(frozen=True)
class Done:
    """The step finished: `outcome` is what `event_after` takes (a condition's truth, a
    split's branch, whether an event was received)."""

    detail: str
    outcome: Outcome = None
    message: SimulatedMessage | None = None
    campaign: SimulatedCampaign | None = None


@dataclass(frozen=True)
class Halt:
    """The walk ends in this step: an exit event cut it short (`exited`), it waits for
    ever (`waiting`), or it can't go on (`failed`). `note` says why (the walk writes an
    exit's)."""

    ending: Ending
    detail: str
    note: str = ""


@dataclass
class Walk:
    world: World
    now: datetime
    event: Mapping[str, Any]  # the event templates see: the trigger, to begin with
    visits: dict[str, int] = field(default_factory=dict)
    # The marketing messages sent so far, (when, channel): the frequency caps count them.
    marketing: list[tuple[datetime, str]] = field(default_factory=list)
    exit: Received | None = None
    # The timeline's events a wait_for_event has received (by index): each is received once.
    received: set[int] = field(default_factory=set)
    # Messages rendered so far, by what their template saw (`steps._rendered`).
    rendered: dict[str, dict[str, str] | TemplateError] = field(default_factory=dict)

    def pause(self, until: datetime | None) -> bool:
        """Move the clock on to `until` unless one of the journey's exit events arrives
        first: then to that event (`exit`), and False. With `until` None (a wait that never
        ends) only an exit event can end it: True says none comes."""
        names = self.world.exit_events
        self.exit = self.world.timeline.arriving(names, self.now, until) if names else None
        if self.exit is not None:
            self.now = self.exit.at
            return False
        if until is not None:
            self.now = max(self.now, until)
        return True

    def when(self, at: datetime | None = None) -> str:
        """`at` (now, by default) counted from the start: "day 2"."""
        return self.world.timeline.offset(self.now if at is None else at)

    def too_far(self, state: str) -> Halt:
        """A wait that would end past what a date can hold (the year 9999)."""
        return Halt(
            "waiting",
            "waiting past the year 9999",
            f"waits at {state} from {self.when()} until after the year 9999; the "
            "simulation stops there",
        )


def stamp(moment: datetime) -> str:
    """As the executions API's step details write a time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
