"""Names both sides of Temporal share: workflow and activity names, search-attribute keys,
the `JourneyPath` tokens and the visibility queries built from them.

One spelling each, imported by the workflows (so nothing here does I/O or reads the clock),
the activities, the API, the launcher, the namespace setup and the tests.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from temporalio.common import SearchAttributeKey

# Workflow types.
JOURNEY_EXECUTION = "JourneyExecution"
JOURNEY_CLEANUP = "JourneyCleanup"
JOURNEY_RUN = "JourneyRun"
WAITING_RECHECK = "WaitingRecheck"

# Activity names (what `@activity.defn(name=...)` registers and workflows call).
SEND_MESSAGE = "send_message"
CLONE_CAMPAIGN = "clone_campaign"
READ_CUSTOMER_ATTRIBUTE = "read_customer_attribute"
CUSTOMER_IN_SEGMENTS = "customer_in_segments"
JOURNEY_EXISTS = "journey_exists"
LIST_JOURNEY_EXECUTIONS = "list_journey_executions"
END_EXECUTIONS = "end_executions"
START_RUN_PAGE = "start_run_page"
FORGET_WAITING = "forget_waiting"
RECHECK_WAITING = "recheck_waiting"
RELEASE_ENTRY = "release_entry"
NEXT_LOCAL_TIME = "next_local_time"
AWAIT_EVENT = "await_event"
UPDATE_CUSTOMER = "update_customer"
CALL_WEBHOOK = "call_webhook"

# Signals.
CUSTOMER_CHANGED = "customer_changed"
EXIT_JOURNEY = "exit_journey"
EVENT_RECEIVED = "event_received"

# Search attributes.
PLACE_ID = SearchAttributeKey.for_int("PlaceId")
JOURNEY_ID = SearchAttributeKey.for_int("JourneyId")
CUSTOMER_ID = SearchAttributeKey.for_int("CustomerId")
JOURNEY_STEP = SearchAttributeKey.for_keyword("JourneyStep")
TRIGGER_EVENT = SearchAttributeKey.for_keyword("TriggerEvent")
# Tokens that journey statistics count: one per state the execution has entered, one for
# the state it is in, one for the state an exit event ended it in (see `state_token`), and
# one per split branch it took (`branch_token`).
JOURNEY_PATH = SearchAttributeKey.for_keyword_list("JourneyPath")
SEARCH_ATTRIBUTE_KEYS = (
    PLACE_ID,
    JOURNEY_ID,
    CUSTOMER_ID,
    JOURNEY_STEP,
    TRIGGER_EVENT,
    JOURNEY_PATH,
)


StateTokenKind = Literal["entered", "in", "exited"]
_TOKEN_PREFIX = {"entered": "e", "in": "n", "exited": "x"}


def state_token(kind: StateTokenKind, state: str) -> str:
    """A state as a token visibility can match exactly. State names are free text, but the
    dev server's SQLite visibility matches keyword lists through full-text search (by word,
    ignoring case) and can't match quotes or backslashes at all: a hash of the name in
    lowercase hex is one word that only that name yields."""
    digest = hashlib.blake2b(state.encode(), digest_size=10).hexdigest()
    return f"{_TOKEN_PREFIX[kind]}{digest}"


def branch_token(state: str, branch: str) -> str:
    """A split branch taken, as a token (hashed for the reasons `state_token` gives)."""
    text = json.dumps([state, branch])
    return f"b{hashlib.blake2b(text.encode(), digest_size=10).hexdigest()}"


def _kept(path: Sequence[str]) -> list[str]:
    """The tokens that stay as the execution moves on: states entered, branches taken."""
    return [token for token in path if token[:1] in ("e", "b")]


def path_after(path: Sequence[str], state: str) -> list[str]:
    """`JourneyPath` once `state` is entered: its entered token added, the one for the
    state the execution is in replaced."""
    entered = _kept(path)
    token = state_token("entered", state)
    if token not in entered:
        entered.append(token)
    return [*entered, state_token("in", state)]


def path_exited(path: Sequence[str], state: str) -> list[str]:
    """`JourneyPath` once an exit event has ended the execution in `state`."""
    return [*_kept(path), state_token("exited", state)]


def path_branched(path: Sequence[str], state: str, branch: str) -> list[str]:
    """`JourneyPath` once the split in `state` has taken `branch`."""
    token = branch_token(state, branch)
    return list(path) if token in path else [*path, token]


# Visibility queries. Every value in them is an int or a state token (lowercase hex), so
# nothing a user wrote is ever spliced into a query.


# The API's execution statuses as visibility filters.
STATUS_FILTERS = {
    "running": "ExecutionStatus = 'Running'",
    "completed": "ExecutionStatus = 'Completed'",
    "failed": "ExecutionStatus IN ('Failed', 'TimedOut')",
    "cancelled": "ExecutionStatus = 'Canceled'",
    "terminated": "ExecutionStatus = 'Terminated'",
}


def executions_query(
    place_id: int,
    journey_id: int,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    state: str | None = None,
) -> str:
    """A journey's executions, in a status (a key of `STATUS_FILTERS`), of a customer, and
    running in a state, as given. Continued-as-new runs are earlier chapters of a
    still-open execution, not executions."""
    query = (
        f"WorkflowType = '{JOURNEY_EXECUTION}' AND {PLACE_ID.name} = {place_id} AND "
        f"{JOURNEY_ID.name} = {journey_id} AND ExecutionStatus != 'ContinuedAsNew'"
    )
    if status is not None:
        query += f" AND {STATUS_FILTERS[status]}"
    if customer_id is not None:
        query += f" AND {CUSTOMER_ID.name} = {int(customer_id)}"
    if state is not None:
        query = in_state_query(query, "in", state)
    return query


def in_state_query(base: str, kind: StateTokenKind, state: str) -> str:
    """Of `base`'s executions, those that entered `state`, are running in it (`in`), or
    were ended in it by an exit event (`exited`)."""
    query = with_token(base, state_token(kind, state))
    return f"{query} AND ExecutionStatus = 'Running'" if kind == "in" else query


def with_token(base: str, token: str) -> str:
    """Of `base`'s executions, those whose `JourneyPath` holds this token."""
    return f"{base} AND {JOURNEY_PATH.name} = '{token}'"


def customer_executions_query(place_id: int, customer_id: int) -> str:
    """A customer's executions of every journey of the place."""
    return (
        f"WorkflowType = '{JOURNEY_EXECUTION}' AND {PLACE_ID.name} = {place_id} AND "
        f"{CUSTOMER_ID.name} = {int(customer_id)} AND ExecutionStatus != 'ContinuedAsNew'"
    )


def running_for_customers_query(place_id: int, customer_ids: Iterable[int]) -> str:
    """The running executions of these customers of the place."""
    ids = ", ".join(str(int(i)) for i in customer_ids)
    return (
        f"WorkflowType = '{JOURNEY_EXECUTION}' AND {PLACE_ID.name} = {place_id} AND "
        f"{CUSTOMER_ID.name} IN ({ids}) AND ExecutionStatus = 'Running'"
    )


def to_end_query(
    place_id: int,
    journey_id: int,
    mode: Literal["cancel", "delete"],
    started_before: float | None = None,
) -> str:
    """What stopping (`cancel`: its running executions, those started before the stop if
    given) or deleting a journey (every execution, and its runs' fan-outs) must end."""
    kinds = f"'{JOURNEY_EXECUTION}'" + (f", '{JOURNEY_RUN}'" if mode == "delete" else "")
    query = (
        f"WorkflowType IN ({kinds}) AND {PLACE_ID.name} = {place_id} "
        f"AND {JOURNEY_ID.name} = {journey_id}"
    )
    if mode == "cancel":
        query += " AND ExecutionStatus = 'Running'"
        if started_before is not None:
            moment = datetime.fromtimestamp(started_before, UTC).isoformat(timespec="milliseconds")
            query += f" AND StartTime < '{moment.replace('+00:00', 'Z')}'"
    return query


# A template sent once to an operator's address (`POST /templates/{id}/test`).
TEMPLATE_TEST_SEND = "TemplateTestSend"
SEND_TEST_MESSAGE = "send_test_message"
