"""Typed `machineConfig`: the step models, the API's parser that checks every rule, and the
interpreter's reader of a stored snapshot.

The parser (`parse_machine_config`) collects every problem it finds, each with the dotted path
of the offending spot, so one 422 tells a user everything that is wrong with a config. The
reader (`read_machine_config`) takes only the structure the interpreter walks: a snapshot
accepted under older, looser rules still runs after a rule is tightened.
"""

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from journeys.errors import Invalid, Issue
from journeys.local_time import HOUR_MINUTE, WEEKDAYS, zone
from workflows.model.events import MANUAL, TRIGGER_EVENTS
from workflows.model.graph import check_graph
from workflows.model.operators import CONDITION_OPERATORS, check_condition, describe

MAX_ID = 2**63 - 1
MAX_STATES = 500
MAX_NAME = 200
MAX_DURATION_SECONDS = 100 * 366 * 86400

DURATION_UNITS: dict[str, int] = {
    # Seconds per unit; years and months are calendar arithmetic at run time, the figures
    # here only bound the total.
    "years": 366 * 86400,
    "months": 31 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}
# The channels a message goes out on: one spelling for steps, templates, the log and providers.
ChannelName = Literal["email", "sms", "push"]
CHANNELS: dict[str, ChannelName] = {
    "send_email": "email",
    "send_sms": "sms",
    "send_push_notification": "push",
}


class _Step(BaseModel):
    # camelCase as in a stored `meta` (what `read_machine_config` validates); unknown keys are
    # ignored there, so a key a later version adds or drops doesn't stop a snapshot.
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class SendStep(_Step):
    type: Literal["send_email", "send_sms", "send_push_notification"]
    template_id: int | None = None
    template_ref: str | None = None

    @property
    def channel(self) -> str:
        return CHANNELS[self.type]


class CreateCampaignStep(_Step):
    type: Literal["create_campaign"]
    campaign_id: int | None = None
    campaign_ref: str | None = None


class Duration(_Step):
    """How long a wait lasts (`workflows.model.durations.wait_until`)."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def pauses(self) -> bool:
        return any(getattr(self, unit) for unit in DURATION_UNITS)


class WaitForDurationStep(Duration):
    type: Literal["wait_for_duration"]


class WaitForEventStep(Duration):
    """Until the customer's next `event` (RECEIVED), at most the duration (TIMEOUT)."""

    type: Literal["wait_for_event"]
    event: str


class WaitForConditionStep(_Step):
    type: Literal["wait_for_condition"]
    include: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()
    # `{"segmentRef": ...}` items of include/exclude as (key, index, ref): segments created by
    # the same recommendation, which its accept replaces with their ids before anything runs.
    segment_refs: tuple[tuple[str, int, str], ...] = ()


class WaitUntilStep(_Step):
    """Until the next local wall-clock `time` (on one of `weekdays`, if given) in the
    customer's zone, the place's, or a named IANA zone."""

    type: Literal["wait_until"]
    time: str
    weekdays: tuple[str, ...] = ()
    timezone: str = "customer"


class SplitStep(_Step):
    """Weighted branches, one taken per execution: its name is the transition event."""

    type: Literal["split"]
    # (branch, weight) in the order written.
    branches: tuple[tuple[str, int], ...]

    @field_validator("branches", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        # As written in a config: an object of branch names and weights.
        return list(value.items()) if isinstance(value, dict) else value


class UpdateCustomerStep(_Step):
    """Set (`set`: a path to a value, a string being Liquid) and remove (`unset`) fields of
    the customer's profile: `attributes.<dotted path>`, `email`, `phone` or `timezone`."""

    type: Literal["update_customer"]
    assign: dict[str, Any] = Field(default_factory=dict, alias="set")
    unset: tuple[str, ...] = ()


class WebhookStep(_Step):
    """An HTTP call (`body` is Liquid): DONE on a 2xx answer, FAILED on one that retrying
    can't change."""

    type: Literal["webhook"]
    url: str
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None


class ConditionStep(_Step):
    type: Literal["condition"]
    attribute: str
    operator: Literal["eq", "ne", "in", "exists"]
    value: Any = None


Step = Annotated[
    SendStep
    | CreateCampaignStep
    | WaitForDurationStep
    | WaitForConditionStep
    | ConditionStep
    | WaitUntilStep
    | SplitStep
    | WaitForEventStep
    | UpdateCustomerStep
    | WebhookStep,
    Field(discriminator="type"),
]

# The events each step type ends with; `on` must handle exactly these.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "send_email": ("DONE",),
    "send_sms": ("DONE",),
    "send_push_notification": ("DONE",),
    "create_campaign": ("DONE",),
    "wait_for_duration": ("ELAPSED",),
    "wait_for_condition": ("DONE",),
    "condition": ("TRUE", "FALSE"),
    "wait_until": ("ELAPSED",),
    # A split's events are its branch names (`transitions`).
    "split": (),
    "wait_for_event": ("RECEIVED", "TIMEOUT"),
    "update_customer": ("DONE",),
    "webhook": ("DONE", "FAILED"),
}
STEP_TYPES = tuple(TRANSITIONS)
MAX_BRANCHES = 10
MAX_WEIGHT = 10_000
BRANCH_NAME = r"[A-Za-z][A-Za-z0-9_]{0,63}"

_META_KEYS: dict[str, tuple[str, ...]] = {
    "send_email": ("templateId", "templateRef"),
    "send_sms": ("templateId", "templateRef"),
    "send_push_notification": ("templateId", "templateRef"),
    "create_campaign": ("campaignId", "campaignRef"),
    "wait_for_duration": tuple(DURATION_UNITS),
    "wait_for_condition": ("include", "exclude"),
    "condition": ("attribute", "operator", "value"),
    "wait_until": ("time", "weekdays", "timezone"),
    "split": ("branches",),
    "wait_for_event": ("event", *DURATION_UNITS),
    "update_customer": ("set", "unset"),
    "webhook": ("url", "method", "headers", "body"),
}
WEBHOOK_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
# Set by the call itself, or by the connection: a step may not.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "idempotency-key", "upgrade"}
)
HEADER_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}"
# Visible ASCII and spaces: what every HTTP client sends as is.
HEADER_VALUE = r"[\x20-\x7e]*"
MAX_HEADERS = 20
MAX_HEADER_VALUE = 1024
MAX_WEBHOOK_BODY = 64 * 1024
# What an update_customer step may change: a profile field, or an attribute at a path.
PROFILE_PATHS = ("email", "phone", "timezone")
ATTRIBUTE_PATH = r"attributes(\.[^.\s]{1,100}){1,8}"
MAX_UPDATES = 50
MAX_UPDATE_VALUE_BYTES = 4096


def transitions(step: "Step") -> tuple[str, ...]:
    """The events a step ends with, which its state's `on` must handle exactly."""
    if isinstance(step, SplitStep):
        return tuple(name for name, _ in step.branches)
    return TRANSITIONS[step.type]


class State(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: Step | None = None
    on: dict[str, str] = Field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.step is None

    @property
    def pauses(self) -> bool:
        """Whether the state waits before moving on (what makes a loop safe)."""
        step = self.step
        if isinstance(step, Duration):
            return step.pauses
        return isinstance(step, WaitForConditionStep | WaitUntilStep)


class MachineConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    initial: str
    states: dict[str, State]


def _step_type(meta: Any) -> str | None:
    """The meta's step type if it names one; None otherwise."""
    kind = meta.get("type") if isinstance(meta, dict) else None
    # Checked as a string first: a list or object is unhashable and `in` a dict would raise.
    return kind if isinstance(kind, str) and kind in TRANSITIONS else None


class _Parser:
    def __init__(self, root: str) -> None:
        self.root = root
        self.issues: list[Issue] = []

    def problem(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def id_value(self, path: str, value: Any, what: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"{what} must be a positive integer, not {describe(value)}")
            return None
        if not 1 <= value <= MAX_ID:
            self.problem(path, f"{what} must be a positive integer (1 to {MAX_ID})")
            return None
        return value

    def ref_value(self, path: str, value: Any, what: str) -> str | None:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            self.problem(
                path, f"{what} must be a non-empty string of at most {MAX_NAME} characters"
            )
            return None
        return value

    def parse(self, raw: Any) -> MachineConfig | None:
        root = self.root
        if not isinstance(raw, dict):
            self.problem(root, f"must be an object with initial and states, not {describe(raw)}")
            return None
        for key in raw:
            if key not in ("initial", "states"):
                self.problem(f"{root}.{key}", "unknown key; a machineConfig has initial and states")
        initial = raw.get("initial")
        if "initial" not in raw:
            self.problem(f"{root}.initial", "is required: the name of the first step")
        elif not isinstance(initial, str):
            self.problem(
                f"{root}.initial", f"must be a state name (a string), not {describe(initial)}"
            )
        raw_states = raw.get("states")
        if "states" not in raw:
            self.problem(f"{root}.states", "is required: an object of steps keyed by name")
            return None
        if not isinstance(raw_states, dict) or not raw_states:
            self.problem(f"{root}.states", "must be a non-empty object of steps keyed by name")
            return None
        if len(raw_states) > MAX_STATES:
            self.problem(f"{root}.states", f"has {len(raw_states)} states; at most {MAX_STATES}")
            return None
        if isinstance(initial, str) and initial not in raw_states:
            self.problem(f"{root}.initial", f"names no state: {initial!r} is not in states")

        states: dict[str, State] = {}
        for name, raw_state in raw_states.items():
            state = self.state(f"{root}.states.{name}", name, raw_state, raw_states)
            if state is not None:
                states[name] = state
        if self.issues:
            return None
        assert isinstance(initial, str)
        return MachineConfig(initial=initial, states=states)

    def state(self, path: str, name: str, raw: Any, names: dict[str, Any]) -> State | None:
        if not name.strip() or len(name) > MAX_NAME:
            self.problem(path, f"a state name must be non-empty and at most {MAX_NAME} characters")
        if not isinstance(raw, dict):
            self.problem(path, f"must be an object with meta and on, not {describe(raw)}")
            return None
        kind = raw.get("type")
        if "type" in raw and kind != "final":
            self.problem(
                f"{path}.type",
                "a state's own type can only be \"final\"; a step's type goes in meta.type",
            )
            return None
        if kind == "final":
            extra = [key for key in raw if key != "type"]
            for key in extra:
                self.problem(f"{path}.{key}", 'a final state has only "type": "final"')
            return None if extra else State()

        for key in raw:
            if key not in ("meta", "on"):
                self.problem(f"{path}.{key}", "unknown key; a step has meta and on")
        if "meta" not in raw:
            self.problem(f"{path}.meta", 'is required (or mark a final state with "type": "final")')
            return None
        step = self.meta(f"{path}.meta", raw["meta"])
        step_type = _step_type(raw["meta"])
        if step_type is None:
            return None
        # A split's events are its branches: unknown while its meta has problems, when
        # only the targets are checked.
        expected = transitions(step) if step is not None else TRANSITIONS[step_type] or None
        on = self.on(f"{path}.on", raw.get("on"), "on" in raw, step_type, expected, names)
        if step is None or on is None:
            return None
        return State(step=step, on=on)

    def on(
        self,
        path: str,
        raw: Any,
        present: bool,
        step_type: str,
        expected: tuple[str, ...] | None,
        names: dict[str, Any],
    ) -> dict[str, str] | None:
        wanted = " and ".join(expected) if expected else "its branch names"
        if not present:
            self.problem(path, f"is required: a {step_type} step moves on with {wanted}")
            return None
        if not isinstance(raw, dict):
            self.problem(
                path, f"must be an object mapping {wanted} to a state, not {describe(raw)}"
            )
            return None
        ok = expected is not None
        for event in expected or ():
            if event not in raw:
                self.problem(
                    path, f"must handle {event}: a {step_type} step moves on with {wanted}"
                )
                ok = False
        for event, target in raw.items():
            if expected is not None and event not in expected:
                self.problem(
                    f"{path}.{event}", f"a {step_type} step never sends {event}; it sends {wanted}"
                )
                ok = False
            elif not isinstance(target, str):
                self.problem(f"{path}.{event}", f"must be a state name, not {describe(target)}")
                ok = False
            elif target not in names:
                self.problem(f"{path}.{event}", f"names no state: {target!r} is not in states")
                ok = False
        return dict(raw) if ok else None

    def meta(self, path: str, raw: Any) -> Any:
        if not isinstance(raw, dict):
            self.problem(path, f"must be an object with a type, not {describe(raw)}")
            return None
        step_type = _step_type(raw)
        if step_type is None:
            allowed = ", ".join(STEP_TYPES)
            self.problem(f"{path}.type", f"must be one of {allowed}; got {raw.get('type')!r}")
            return None
        before = len(self.issues)
        allowed_keys = _META_KEYS[step_type]
        for key in raw:
            if key != "type" and key not in allowed_keys:
                self.problem(
                    f"{path}.{key}",
                    f"unknown key for a {step_type} step; it takes {', '.join(allowed_keys)}",
                )
        parser = {
            "create_campaign": self.campaign,
            "wait_for_duration": self.duration,
            "wait_for_condition": self.wait_condition,
            "condition": self.condition,
            "wait_until": self.wait_until,
            "split": self.split,
            "wait_for_event": self.wait_for_event,
            "update_customer": self.update_customer,
            "webhook": self.webhook,
        }.get(step_type, self.send)
        result = parser(path, step_type, raw)
        return result if len(self.issues) == before else None

    def send(self, path: str, step_type: str, raw: dict[str, Any]) -> SendStep | None:
        template_id, template_ref = self.target(path, raw, "templateId", "templateRef", "template")
        return SendStep(type=step_type, template_id=template_id, template_ref=template_ref)

    def campaign(self, path: str, step_type: str, raw: dict[str, Any]) -> CreateCampaignStep:
        campaign_id, campaign_ref = self.target(path, raw, "campaignId", "campaignRef", "campaign")
        return CreateCampaignStep(
            type="create_campaign", campaign_id=campaign_id, campaign_ref=campaign_ref
        )

    def target(
        self, path: str, raw: dict[str, Any], id_key: str, ref_key: str, what: str
    ) -> tuple[int | None, str | None]:
        if (id_key in raw) == (ref_key in raw):
            self.problem(
                f"{path}.{id_key}",
                f"give exactly one of {id_key} (an existing {what}) or {ref_key} "
                f"(a {what} created by the same recommendation)",
            )
            return None, None
        if id_key in raw:
            return self.id_value(f"{path}.{id_key}", raw[id_key], id_key), None
        return None, self.ref_value(f"{path}.{ref_key}", raw[ref_key], ref_key)

    def duration(self, path: str, step_type: str, raw: dict[str, Any]) -> WaitForDurationStep:
        return WaitForDurationStep(type="wait_for_duration", **self.units(path, raw))

    def wait_for_event(self, path: str, step_type: str, raw: dict[str, Any]) -> WaitForEventStep:
        event = raw.get("event")
        awaitable = [e for e in TRIGGER_EVENTS if e != MANUAL]
        if event not in awaitable:
            self.problem(
                f"{path}.event",
                f"must be an event POST /events takes ({', '.join(awaitable)}), "
                f"not {describe(event)}",
            )
            event = awaitable[0]
        return WaitForEventStep(type="wait_for_event", event=event, **self.units(path, raw))

    def update_customer(self, path: str, step_type: str, raw: dict[str, Any]) -> UpdateCustomerStep:
        assign, unset = raw.get("set", {}), raw.get("unset", [])
        if not isinstance(assign, dict):
            self.problem(
                f"{path}.set", f"must be an object of paths and values, not {describe(assign)}"
            )
            assign = {}
        if not isinstance(unset, list):
            self.problem(f"{path}.unset", f"must be a list of paths, not {describe(unset)}")
            unset = []
        if not assign and not unset:
            self.problem(path, "needs something to change: paths in set, unset or both")
        if len(assign) + len(unset) > MAX_UPDATES:
            self.problem(path, f"changes {len(assign) + len(unset)} paths; at most {MAX_UPDATES}")
        for key, value in assign.items():
            where = f"{path}.set.{key}"
            self.profile_path(where, key)
            if key in PROFILE_PATHS and not isinstance(value, str):
                self.problem(where, f"{key} takes a string (Liquid allowed), not {describe(value)}")
            elif len(json.dumps(value)) > MAX_UPDATE_VALUE_BYTES:
                self.problem(where, f"is over {MAX_UPDATE_VALUE_BYTES} bytes as JSON")
        for i, key in enumerate(unset):
            where = f"{path}.unset.{i}"
            if not isinstance(key, str):
                self.problem(where, f"must be a path, not {describe(key)}")
            elif self.profile_path(where, key) and key in assign:
                self.problem(where, f"{key} is also in set: a path is set or unset, not both")
        kept = [key for key in unset if isinstance(key, str)]
        return UpdateCustomerStep(type="update_customer", assign=assign, unset=tuple(kept))

    def webhook(self, path: str, step_type: str, raw: dict[str, Any]) -> WebhookStep:
        url, method = raw.get("url"), raw.get("method", "POST")
        headers, body = raw.get("headers", {}), raw.get("body")
        if not isinstance(url, str) or not url:
            self.problem(f"{path}.url", f"must be an https URL, not {describe(url)}")
            url = ""
        if method not in WEBHOOK_METHODS:
            self.problem(
                f"{path}.method", f"must be one of {', '.join(WEBHOOK_METHODS)}, not {method!r}"
            )
            method = "POST"
        if not isinstance(headers, dict):
            self.problem(
                f"{path}.headers", f"must be an object of names and values, not {describe(headers)}"
            )
            headers = {}
        elif len(headers) > MAX_HEADERS:
            self.problem(f"{path}.headers", f"has {len(headers)} headers; at most {MAX_HEADERS}")
        for name, value in headers.items():
            where = f"{path}.headers.{name}"
            if not re.fullmatch(HEADER_NAME, name):
                self.problem(where, "is not a header name")
            elif name.lower() in RESERVED_HEADERS:
                self.problem(where, "is set by the call itself; a step can't set it")
            if (
                not isinstance(value, str)
                or len(value) > MAX_HEADER_VALUE
                or not re.fullmatch(HEADER_VALUE, value)
            ):
                self.problem(
                    where,
                    f"must be a string of at most {MAX_HEADER_VALUE} visible ASCII characters "
                    "(and spaces) on one line",
                )
        if body is not None and (not isinstance(body, str) or len(body) > MAX_WEBHOOK_BODY):
            self.problem(
                f"{path}.body",
                f"must be a string (Liquid) of at most {MAX_WEBHOOK_BODY} characters",
            )
            body = None
        kept = {n: v for n, v in headers.items() if isinstance(v, str)}
        return WebhookStep(type="webhook", url=url, method=method, headers=kept, body=body)

    def profile_path(self, path: str, key: str) -> bool:
        if key in PROFILE_PATHS or re.fullmatch(ATTRIBUTE_PATH, key):
            return True
        self.problem(
            path,
            f"must be {', '.join(PROFILE_PATHS)} or attributes.<name>[.<name>…] (up to 8 "
            "names), not " + describe(key),
        )
        return False

    def units(self, path: str, raw: dict[str, Any]) -> dict[str, int]:
        """A wait's duration units, each checked, and the whole bounded."""
        units: dict[str, int] = {}
        for unit, value in raw.items():
            if unit not in DURATION_UNITS:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.problem(f"{path}.{unit}", f"must be a non-negative integer, not {value!r}")
            else:
                units[unit] = value
        if not any(unit in raw for unit in DURATION_UNITS):
            self.problem(path, f"needs at least one duration unit: {', '.join(DURATION_UNITS)}")
        elif (
            sum(DURATION_UNITS[unit] * value for unit, value in units.items())
            > MAX_DURATION_SECONDS
        ):
            self.problem(path, "the duration is longer than 100 years")
        return units

    def wait_until(self, path: str, step_type: str, raw: dict[str, Any]) -> WaitUntilStep:
        at = raw.get("time")
        if not isinstance(at, str) or not re.match(HOUR_MINUTE, at):
            self.problem(
                f"{path}.time", f"must be a local time HH:MM, 00:00 to 23:59, not {describe(at)}"
            )
            at = "00:00"
        weekdays = raw.get("weekdays", [])
        if not isinstance(weekdays, list) or not all(isinstance(d, str) for d in weekdays):
            self.problem(f"{path}.weekdays", f"must be a list of {', '.join(WEEKDAYS)}")
            weekdays = []
        elif "weekdays" in raw and not weekdays:
            self.problem(f"{path}.weekdays", "must name at least one day (or be left out: any day)")
        for i, day in enumerate(weekdays):
            if day not in WEEKDAYS:
                self.problem(
                    f"{path}.weekdays.{i}", f"must be one of {', '.join(WEEKDAYS)}, not {day!r}"
                )
        if len(set(weekdays)) != len(weekdays):
            self.problem(f"{path}.weekdays", "must not name a day twice")
        where = raw.get("timezone", "customer")
        if not isinstance(where, str):
            self.problem(
                f"{path}.timezone",
                f"must be customer, place or an IANA zone, not {describe(where)}",
            )
            where = "customer"
        elif where not in ("customer", "place"):
            try:
                zone(where)
            except ValueError as error:
                self.problem(
                    f"{path}.timezone", f"must be customer, place or an IANA zone: {error}"
                )
        return WaitUntilStep(type="wait_until", time=at, weekdays=tuple(weekdays), timezone=where)

    def split(self, path: str, step_type: str, raw: dict[str, Any]) -> SplitStep:
        branches = raw.get("branches")
        where = f"{path}.branches"
        if not isinstance(branches, dict) or not 2 <= len(branches) <= MAX_BRANCHES:
            self.problem(
                where,
                f"must be an object of 2 to {MAX_BRANCHES} branch names, each with its weight, "
                f"not {describe(branches)}",
            )
            return SplitStep(type="split", branches=())
        for name, weight in branches.items():
            if not re.fullmatch(BRANCH_NAME, name):
                self.problem(
                    f"{where}.{name}",
                    "a branch name is its transition event: a letter, then up to 63 letters, "
                    "digits or _",
                )
            if isinstance(weight, bool) or not isinstance(weight, int):
                self.problem(
                    f"{where}.{name}", f"a weight must be a whole number, not {describe(weight)}"
                )
            elif not 0 <= weight <= MAX_WEIGHT:
                self.problem(f"{where}.{name}", f"a weight must be 0 to {MAX_WEIGHT}")
        weights = [w for w in branches.values() if isinstance(w, int)]
        if len(weights) == len(branches) and not sum(weights):
            self.problem(where, "the weights add up to 0: at least one branch needs a weight")
        pairs = [(n, w) for n, w in branches.items() if type(w) is int]
        return SplitStep(type="split", branches=tuple(pairs))

    def wait_condition(
        self, path: str, step_type: str, raw: dict[str, Any]
    ) -> WaitForConditionStep:
        lists: dict[str, tuple[int, ...]] = {}
        refs: list[tuple[str, int, str]] = []
        for key in ("include", "exclude"):
            if key not in raw:
                continue
            value = raw[key]
            if not isinstance(value, list):
                self.problem(
                    f"{path}.{key}", f"must be a list of segment ids, not {describe(value)}"
                )
                continue
            ids = []
            for i, item in enumerate(value):
                if isinstance(item, dict) and list(item) == ["segmentRef"]:
                    ref = self.ref_value(
                        f"{path}.{key}.{i}.segmentRef", item["segmentRef"], "segmentRef"
                    )
                    if ref is not None:
                        refs.append((key, i, ref))
                else:
                    ids.append(self.id_value(f"{path}.{key}.{i}", item, "a segment id"))
            lists[key] = tuple(i for i in ids if i is not None)
        # A malformed include/exclude has its own issue already; this one is for no ids at all.
        if all(raw[key] == [] for key in ("include", "exclude") if key in raw):
            self.problem(path, "needs segment ids in include, exclude or both")
        return WaitForConditionStep(type="wait_for_condition", segment_refs=tuple(refs), **lists)

    def condition(self, path: str, step_type: str, raw: dict[str, Any]) -> ConditionStep | None:
        # Segment rules share these checks; unknown keys are refused by `meta` already.
        issues = check_condition(raw, path, CONDITION_OPERATORS, other_keys=tuple(raw))
        if issues:
            self.issues += issues
            return None
        return ConditionStep(
            type="condition",
            attribute=raw["attribute"],
            operator=raw["operator"],
            value=raw.get("value"),
        )


def parse_machine_config(raw: Any, root: str = "machine_config") -> MachineConfig:
    """Parse and check a raw `machineConfig`; raise `Invalid` naming every problem's path."""
    parser = _Parser(root)
    config = parser.parse(raw)
    if config is None:
        raise Invalid(parser.issues, "machine_config is invalid.")
    issues = check_graph(config, root)
    if issues:
        raise Invalid(issues, "machine_config is invalid.")
    return config


def read_machine_config(raw: Any) -> MachineConfig:
    """A stored snapshot as the interpreter walks it: the initial state, each state's step and
    its transitions to existing states — none of the API's rules (names, sizes, bounds, graph
    checks). What can't be read raises `ValueError` naming the spot (pydantic's
    `ValidationError` is one)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("states"), dict):
        raise ValueError("machine_config: must be an object with initial and states")
    states: dict[str, State] = {}
    for name, value in raw["states"].items():
        if not isinstance(value, dict):
            raise ValueError(f"machine_config.states.{name}: must be an object")
        if value.get("type") == "final":
            states[name] = State()
            continue
        if not isinstance(value.get("meta"), dict):
            raise ValueError(f"machine_config.states.{name}.meta: a step is required")
        state = State.model_validate({"step": value["meta"], "on": value.get("on") or {}})
        assert state.step is not None
        for event in transitions(state.step):
            if state.on.get(event) not in raw["states"]:
                raise ValueError(f"machine_config.states.{name}.on.{event}: names no state")
        states[name] = state
    initial = raw.get("initial")
    if not isinstance(initial, str) or initial not in states:
        raise ValueError("machine_config.initial: names no state")
    return MachineConfig(initial=initial, states=states)
