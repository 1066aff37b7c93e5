"""SQLModel tables. Timestamps are Unix seconds, as the API shows them."""

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Any:
    return Field(default=None, sa_column=Column(Id, primary_key=True))


def _place_id(*, index: bool = False) -> Any:
    """The owning place; rows go with it."""
    return Field(
        sa_column=Column(
            BigInteger, ForeignKey("places.id", ondelete="CASCADE"), nullable=False, index=index
        )
    )


def _stamp() -> Any:
    """A Unix-seconds timestamp, set by `store.crud`."""
    return Field(default=0, sa_column=Column(BigInteger, nullable=False))


class Place(SQLModel, table=True):
    __tablename__ = "places"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=255)
    created: int = _stamp()


class ApiKey(SQLModel, table=True):
    """A manager API key; only its SHA-256 is stored (the key itself is 256 random bits)."""

    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = _id()
    place_id: int = _place_id()
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    key_hash: str = Field(max_length=64, unique=True)
    created: int = _stamp()


# An absent rule is SQL NULL (not JSON null), so a query can select the journeys that have one.
Rule = JSON(none_as_null=True)


class Journey(SQLModel, table=True):
    __tablename__ = "journeys"
    # AUTOINCREMENT: a deleted journey's id is never handed out again, because execution ids
    # in Temporal are derived from it.
    __table_args__ = (
        Index("ix_journeys_place_trigger", "place_id", "trigger_event"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = _id()
    place_id: int = _place_id()
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    name: str = Field(max_length=255)
    description: str | None = Field(default=None)
    trigger_event: str = Field(max_length=64)
    # Plain JSON (not JSONB) so the document comes back exactly as it was given, key order too.
    machine_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # Who may enter, and what ends an execution early or counts as its success
    # (`services.journey_rules`); None: the specification's behaviour.
    entry_rules: dict[str, Any] | None = Field(default=None, sa_column=Column(Rule))
    exit_rules: dict[str, Any] | None = Field(default=None, sa_column=Column(Rule))
    goal: dict[str, Any] | None = Field(default=None, sa_column=Column(Rule))
    active: bool = Field(default=False)
    version: int = Field(default=1)
    created: int = _stamp()
    updated: int = _stamp()


class JourneyVersion(SQLModel, table=True):
    """Each version of a journey's `machineConfig`, as it was saved (the console's history;
    executions carry their own snapshot)."""

    __tablename__ = "journey_versions"

    journey_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True
        )
    )
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    place_id: int = _place_id()
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    machine_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created: int = _stamp()


# Customer attributes are queried by segment rules: JSONB (indexable, typed comparisons) on
# PostgreSQL, JSON text read with json_extract on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")


class Customer(SQLModel, table=True):
    """A customer of a place, keyed by the platform's own customer id."""

    __tablename__ = "customers"
    # An SMS opt-out names only the phone number.
    __table_args__ = (Index("ix_customers_place_phone", "place_id", "phone"),)

    place_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("places.id", ondelete="CASCADE"), primary_key=True)
    )
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    push_tokens: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(Document, nullable=False)
    )
    # IANA zone for quiet hours; None: the place's.
    timezone: str | None = Field(default=None, max_length=64)
    # Only channels whose consent changed: `{"email": {"status": "unsubscribed", "at": 1700000000,
    # "source": "unsubscribe_link"}}`; a channel not here is subscribed (`store.consent`).
    subscriptions: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created: int = _stamp()
    updated: int = _stamp()


class Segment(SQLModel, table=True):
    """A targeting segment: rules over attributes, or a static list of customer ids."""

    __tablename__ = "segments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = _id()
    place_id: int = _place_id(index=True)
    name: str = Field(max_length=255)
    kind: str = Field(max_length=16)  # "rule" | "static"
    match: str | None = Field(default=None, max_length=8)  # "all" | "any" for rule segments
    conditions: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    created: int = _stamp()
    updated: int = _stamp()


class SegmentMember(SQLModel, table=True):
    """One customer id listed by a static segment."""

    __tablename__ = "segment_members"

    segment_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
        )
    )
    customer_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class Template(SQLModel, table=True):
    """A communication template; bodies are Liquid."""

    __tablename__ = "templates"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = _id()
    place_id: int = _place_id(index=True)
    name: str = Field(max_length=255)
    channel: str = Field(max_length=8)  # "email" | "sms" | "push"
    subject: str | None = Field(default=None)
    title: str | None = Field(default=None)
    body: str
    # "marketing": consent, quiet hours and frequency caps apply; "transactional": never held.
    category: str = Field(default="marketing", max_length=16)
    created: int = _stamp()
    updated: int = _stamp()


class Campaign(SQLModel, table=True):
    """A campaign; private clones made by journeys record whom and what they were made for."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_place_customer", "place_id", "customer_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = _id()
    place_id: int = _place_id()
    name: str = Field(max_length=255)
    visibility: str = Field(max_length=8)  # "public" | "private"
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    customer_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    source_campaign_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    journey_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    execution_id: str | None = Field(default=None, max_length=255)
    # Set on clones: a retried clone finds the campaign it already made.
    idempotency_key: str | None = Field(default=None, max_length=255, unique=True)
    created: int = _stamp()
    updated: int = _stamp()


class Message(SQLModel, table=True):
    """The delivery log: one row per idempotency key, whatever became of it."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_place_customer", "place_id", "customer_id"),
        Index("ix_messages_place_journey", "place_id", "journey_id"),
        Index("ix_messages_execution", "execution_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = _id()
    place_id: int = _place_id()
    # A test send's is the stored customer it was rendered for, or None (see `test`).
    customer_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    journey_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    execution_id: str | None = Field(default=None, max_length=255)
    state: str | None = Field(default=None, max_length=255)
    channel: str = Field(max_length=8)
    template_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # The template's category when sent: frequency caps count the marketing ones.
    category: str | None = Field(default=None, max_length=16)
    recipient: str | None = Field(default=None)
    subject: str | None = Field(default=None)
    title: str | None = Field(default=None)
    body: str | None = Field(default=None)
    # "pending" while a provider is being asked; then "sent" | "skipped" | "failed".
    status: str = Field(max_length=8)
    reason: str | None = Field(default=None)
    provider: str | None = Field(default=None, max_length=32)
    provider_message_id: str | None = Field(default=None)
    idempotency_key: str = Field(max_length=255, unique=True)
    attempts: int = Field(default=0)
    # Set while an attempt may be talking to the provider (Unix seconds): until then no other
    # attempt may send through a provider that can't drop repeats (SMTP, FCM).
    lease_until: int | None = Field(default=None, sa_column=Column(BigInteger))
    created: int = _stamp()
    updated: int = _stamp()
    # A template sent once to an operator's own address (`POST /templates/{id}/test`): no
    # journey's, counted in no statistics or frequency cap.
    test: bool = Field(default=False)


class Event(SQLModel, table=True):
    """A business event received, and the executions it started: a repeated `event_id`
    answers with these instead of starting anything new."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("place_id", "event_id", name="uq_events_place_event"),
        # A wait_for_event looks for the customer's next event of a name.
        Index("ix_events_place_customer_name", "place_id", "customer_id", "name", "received_ms"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = _id()
    place_id: int = _place_id()
    event_id: str = Field(max_length=200)
    name: str = Field(max_length=64)
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: int | None = Field(default=None, sa_column=Column(BigInteger))
    # [journey id, execution id] pairs, in journey id order.
    executions: list[list[Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # [journey id, why] pairs: the triggered journeys whose entry rules kept the customer out.
    skipped: list[list[Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # When it was received, in Unix milliseconds (None: before wait_for_event existed).
    received_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    created: int = _stamp()
    updated: int = _stamp()


class ManualRun(SQLModel, table=True):
    """A manual run (`/run`): whom it targeted, as counted at the call, and how far the
    durable fan-out that starts their executions has got."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        Index("ix_journey_runs_journey", "journey_id", "created"),
        UniqueConstraint("journey_id", "idempotency_key", name="uq_journey_runs_idempotency"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    place_id: int = _place_id()
    journey_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False)
    )
    journey_version: int
    include_segment_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    exclude_segment_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The `Idempotency-Key` header of the call: a repeated call answers with this run.
    idempotency_key: str | None = Field(default=None, max_length=255)
    targeted: int = Field(default=0)
    started: int = Field(default=0)
    # Targeted customers the journey's entry rules kept out.
    skipped: int = Field(default=0)
    status: str = Field(default="starting", max_length=16)  # "starting" | "completed"
    finished: int | None = Field(default=None, sa_column=Column(BigInteger))
    created: int = _stamp()
    updated: int = _stamp()


class ManualRunMember(SQLModel, table=True):
    """One customer a run targets; the rows go once every execution of the run is started,
    or with the journey (`store.runs.forget`). No foreign key: checking one per row made
    copying 100 000 members on PostgreSQL five times slower (~1 s instead of ~0.2 s)."""

    __tablename__ = "journey_run_members"

    run_id: str = Field(sa_column=Column(String(32), primary_key=True))
    customer_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class OwedStart(SQLModel, table=True):
    """A workflow start a committed change owes Temporal (a run's fan-out, a journey's
    cleanup): written in the change's transaction, gone once Temporal has it. What a crash
    leaves here is started by the worker's relay (`orchestration.handoff`)."""

    __tablename__ = "owed_starts"

    workflow_id: str = Field(sa_column=Column(String(255), primary_key=True))
    kind: str = Field(max_length=16)  # "run" | "cleanup"
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, index=True))


class WaitingExecution(SQLModel, table=True):
    """An execution waiting for something the application sees change: a segment condition
    (`wait_for_condition`) or the customer's next event (`wait_for_event`). Written by the
    execution's own check when it starts waiting, removed when it leaves (`store.waiting`);
    customer changes and the central re-check signal exactly the executions whose condition
    now holds, an event those waiting for it (`orchestration.waking`)."""

    __tablename__ = "waiting_executions"
    __table_args__ = (
        Index("ix_waiting_place_customer", "place_id", "customer_id"),
        Index("ix_waiting_condition", "kind", "place_id", "condition", "customer_id"),
        Index("ix_waiting_checked", "checked"),
        Index("ix_waiting_journey", "journey_id"),
    )

    execution_id: str = Field(sa_column=Column(String(255), primary_key=True))
    kind: str = Field(sa_column=Column(String(16), primary_key=True))  # "segments" | "event"
    place_id: int = _place_id()
    journey_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str | None = Field(default=None, max_length=255)
    # One key per distinct condition (its rows are re-checked with one query), and the
    # condition itself: `{"include": [...], "exclude": [...]}` for segments; the event's name
    # and `{"event": ..., "visit": "state:n"}` for an event.
    condition: str = Field(max_length=64)
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    registered: int = _stamp()
    # When the execution last checked (it does at least once per safety interval): a row
    # not checked for much longer than that is verified against Temporal.
    checked: int = _stamp()
    # When it was last signalled that its condition holds; None once it checked again.
    woken: int | None = Field(default=None, sa_column=Column(BigInteger))


class PlaceSettings(SQLModel, table=True):
    """What a place's marketing sends obey: its time zone, quiet hours and frequency caps."""

    __tablename__ = "place_settings"

    place_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("places.id", ondelete="CASCADE"), primary_key=True)
    )
    timezone: str = Field(default="UTC", max_length=64)
    quiet_hours: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # {"email": {"max": 3, "per_days": 7}, ...}
    frequency_caps: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    updated: int = _stamp()


class JourneyEntry(SQLModel, table=True):
    """A customer's entries into a journey with entry rules: written with the event or run
    that lets them in, by one conditional upsert, so two at once can't both get in."""

    __tablename__ = "journey_entries"

    journey_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True
        )
    )
    customer_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    place_id: int = _place_id()
    entries: int = Field(default=1)
    entered: int = _stamp()
    # The execution in the journey now (`after_exit`): cleared by it as it ends, and kept
    # as `released`, so a retried admission of that same execution can't take it again.
    execution_id: str | None = Field(default=None, max_length=255)
    released: str | None = Field(default=None, max_length=255)


class Conversion(SQLModel, table=True):
    """An execution whose customer reached the journey's goal in time, once."""

    __tablename__ = "journey_conversions"
    __table_args__ = (Index("ix_conversions_journey", "journey_id"),)

    execution_id: str = Field(sa_column=Column(String(255), primary_key=True))
    place_id: int = _place_id()
    journey_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False)
    )
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_id: str | None = Field(default=None, max_length=200)
    # The `JourneyPath` tokens of the states it had entered, so stats compare branches.
    path: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    converted: int = _stamp()


class CustomerUpdate(SQLModel, table=True):
    """An `update_customer` step's change to a customer, once per visit (its idempotency key):
    a retried activity finds it here and changes nothing again."""

    __tablename__ = "customer_updates"
    __table_args__ = (Index("ix_customer_updates_customer", "place_id", "customer_id"),)

    idempotency_key: str = Field(sa_column=Column(String(255), primary_key=True))
    place_id: int = _place_id()
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    journey_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    execution_id: str | None = Field(default=None, max_length=255)
    state: str | None = Field(default=None, max_length=255)
    # What the step did: the rendered paths it set, those it removed, or why nothing.
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    detail: str = Field(default="")
    created: int = _stamp()


class Recommendation(SQLModel, table=True):
    """One node of a proposed change tree (an AI's or a person's): create, update or delete
    one entity. Accepting a node applies its whole pending subtree in one transaction."""

    __tablename__ = "recommendations"
    __table_args__ = (
        Index("ix_recommendations_place_status", "place_id", "status"),
        Index("ix_recommendations_root", "root_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = _id()
    place_id: int = _place_id()
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The top of the tree (None on the top node itself), so one query loads a whole tree.
    root_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("recommendations.id", ondelete="CASCADE")),
    )
    parent_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("recommendations.id", ondelete="CASCADE")),
    )
    position: int = Field(default=0)  # among its siblings, as given
    type: str = Field(max_length=8)  # "create" | "update" | "delete"
    category: str = Field(max_length=32)
    subcategory: str | None = Field(default=None, max_length=64)
    rationale: str | None = Field(default=None)
    status: str = Field(default="pending", max_length=8)  # "pending" | "accepted" | "rejected"
    # Plain JSON, returned exactly as given (a journey's machineConfig in it too).
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The entity the accept created, updated or deleted.
    entity_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created: int = _stamp()
    updated: int = _stamp()
