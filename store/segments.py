"""Targeting-segment membership, evaluated in the database.

Rule segments compile to one WHERE clause over `customers.attributes` that agrees with
`workflows.model.operators.evaluate`; static segments are the `segment_members` rows whose
customer exists in the place. Counting, paging and the single-customer check all use the same
clause, so a 100 000-customer place is one query, never a Python loop.

SQLite (JSON text): `json_type` / `json_extract` with a quoted JSON path. A key that JSON would
escape (non-ASCII, `"`, `\\`, control characters) is matched through `json_each`, whose `key`
column is decoded: path labels are compared with the *stored* spelling of a key, escapes and all,
by SQLite before 3.45, so a label could miss a key stored as `"caf\\u00e9"`.

PostgreSQL (JSONB): `attributes @> '{"a": {"b": v}}'` for eq/ne/in (typed JSON equality, 1 = 1.0,
and a GIN index can serve it); `->` chains (object fields only, never array indexes, unlike
`#>`) with `jsonb_typeof` for exists and ordering; numbers as NUMERIC; strings `COLLATE "C"`,
which is code-point order as in Python.

Every clause is two-valued (never SQL NULL), so `ne` can be `NOT eq`: a missing attribute is
`ne` anything, as in the oracle.

Known limits, both from what the backends store rather than from the compiler: SQLite reads
integers beyond 64 bits as floats, and PostgreSQL reads a float beyond 2**53 as the decimal in
its JSON text (2**60 as a float is 1152921504606847000 there, not 1152921504606846976).
"""

import operator as op
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    String,
    and_,
    case,
    cast,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    true,
    type_coerce,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import Invalid, Issue, NotFound
from store.clock import now
from store.tables import Customer, Segment, SegmentMember
from workflows.model.operators import SEGMENT_OPERATORS, check_condition

Clause = ColumnElement[bool]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "gt": op.gt,
    "gte": op.ge,
    "lt": op.lt,
    "lte": op.le,
}
_INT64 = range(-(2**63), 2**63)
# The column itself (SQLModel's class attribute is typed as the Python value).
_ATTRIBUTES: ColumnElement[Any] = Customer.__table__.c.attributes  # type: ignore[attr-defined]


# --- one segment ---------------------------------------------------------------------------


def membership_clause(segment: Segment, dialect_name: str) -> Clause:
    """WHERE clause over `customers` selecting the segment's members (in its place)."""
    return and_(col(Customer.place_id) == segment.place_id, _members(segment, dialect_name))


async def count_members(session: AsyncSession, segment: Segment) -> int:
    query = select(func.count()).select_from(Customer)
    query = query.where(membership_clause(segment, _dialect(session)))
    return (await session.exec(query)).one()


async def page_members(
    session: AsyncSession, segment: Segment, offset: int, limit: int
) -> list[Customer]:
    query = (
        select(Customer)
        .where(membership_clause(segment, _dialect(session)))
        .order_by(col(Customer.id))
        .offset(offset)
        .limit(limit)
    )
    return list(await session.exec(query))


async def member_ids(session: AsyncSession, segment: Segment) -> list[int]:
    """A static segment's customer ids, in order."""
    query = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
    return sorted(await session.exec(query))


async def set_members(session: AsyncSession, segment: Segment, customer_ids: list[int]) -> None:
    """Replace a static segment's members (in batches: a list may hold 100 000)."""
    await session.exec(delete(SegmentMember).where(col(SegmentMember.segment_id) == segment.id))
    rows = [{"segment_id": segment.id, "customer_id": c} for c in dict.fromkeys(customer_ids)]
    connection = await session.connection()
    for start in range(0, len(rows), 5_000):
        await connection.execute(insert(SegmentMember), rows[start : start + 5_000])
    segment.updated = now()
    await session.flush()


# --- audiences: include / exclude ----------------------------------------------------------


async def load_segments(
    session: AsyncSession, place_id: int, segment_ids: Iterable[int]
) -> dict[int, Segment]:
    """The place's segments by id; raise NotFound naming every id it does not have."""
    wanted = set(segment_ids)
    if not wanted:
        return {}
    query = select(Segment).where(Segment.place_id == place_id, col(Segment.id).in_(wanted))
    found = {segment.id: segment for segment in await session.exec(query)}
    missing = sorted(wanted - found.keys())
    if missing:
        names = ", ".join(map(str, missing))
        noun = "Segment" if len(missing) == 1 else "Segments"
        verb = "was" if len(missing) == 1 else "were"
        raise NotFound(f"{noun} {names} {verb} not found in place {place_id}.")
    return {id_: segment for id_, segment in found.items() if id_ is not None}


def audience_clause_for(
    place_id: int, include: Sequence[Segment], exclude: Sequence[Segment], dialect_name: str
) -> Clause:
    """Customers of the place in any `include` segment (all if none) and in no `exclude`."""
    clauses: list[Clause] = [col(Customer.place_id) == place_id]
    if include:
        clauses.append(or_(*(_members(segment, dialect_name) for segment in include)))
    if exclude:
        clauses.append(not_(or_(*(_members(segment, dialect_name) for segment in exclude))))
    return and_(*clauses)


async def audience_clause(
    session: AsyncSession,
    place_id: int,
    include_ids: Sequence[int],
    exclude_ids: Sequence[int],
) -> Clause:
    """`audience_clause_for` the place's segments with these ids (one query to load them)."""
    segments = await load_segments(session, place_id, [*include_ids, *exclude_ids])
    return audience_clause_for(
        place_id,
        [segments[i] for i in dict.fromkeys(include_ids)],
        [segments[i] for i in dict.fromkeys(exclude_ids)],
        _dialect(session),
    )


async def count_audience(
    session: AsyncSession,
    place_id: int,
    include_ids: Sequence[int],
    exclude_ids: Sequence[int],
) -> int:
    clause = await audience_clause(session, place_id, include_ids, exclude_ids)
    return (await session.exec(select(func.count()).select_from(Customer).where(clause))).one()


async def audience_page(
    session: AsyncSession,
    place_id: int,
    include_ids: Sequence[int],
    exclude_ids: Sequence[int],
    after_customer_id: int | None,
    limit: int,
) -> list[int]:
    """The next `limit` audience customer ids above `after_customer_id` (keyset paging)."""
    clause = await audience_clause(session, place_id, include_ids, exclude_ids)
    query = select(Customer.id).where(clause)
    if after_customer_id is not None:
        query = query.where(col(Customer.id) > after_customer_id)
    query = query.order_by(col(Customer.id)).limit(limit)
    return list(await session.exec(query))


async def customer_matches(
    session: AsyncSession,
    place_id: int,
    customer_id: int,
    include_ids: Sequence[int],
    exclude_ids: Sequence[int],
) -> bool:
    """Whether one customer is in the audience; False if the customer does not exist."""
    clause = await audience_clause(session, place_id, include_ids, exclude_ids)
    return await customer_in(session, clause, customer_id)


async def customer_in(session: AsyncSession, clause: Clause, customer_id: int) -> bool:
    query = select(Customer.id).where(clause, col(Customer.id) == customer_id).limit(1)
    return (await session.exec(query)).first() is not None


async def surviving_audience_clause(
    session: AsyncSession,
    place_id: int,
    include_ids: Sequence[int],
    exclude_ids: Sequence[int],
) -> Clause | None:
    """The audience of a journey step saved with these ids: a segment deleted since counts as
    having no members (retrying could never bring it back). None when no one can be in it."""
    wanted = {*include_ids, *exclude_ids}
    query = select(Segment).where(Segment.place_id == place_id, col(Segment.id).in_(wanted))
    found = {segment.id: segment for segment in await session.exec(query)}
    include = [found[i] for i in dict.fromkeys(include_ids) if i in found]
    if include_ids and not include:
        return None
    exclude = [found[i] for i in dict.fromkeys(exclude_ids) if i in found]
    return audience_clause_for(place_id, include, exclude, _dialect(session))


async def memberships(
    session: AsyncSession, place_id: int, customer_id: int, segment_ids: Iterable[int]
) -> set[int]:
    """Which of these segments the customer is in now, by the SQL every membership check runs,
    in one query (a segment that no longer exists, like a customer who doesn't, has no one)."""
    wanted = set(segment_ids)
    if not wanted:
        return set()
    query = select(Segment).where(Segment.place_id == place_id, col(Segment.id).in_(wanted))
    found = {segment.id: segment for segment in await session.exec(query) if segment.id is not None}
    if not found:
        return set()
    dialect = _dialect(session)
    columns = select_columns(*(_members(segment, dialect) for segment in found.values())).where(
        col(Customer.place_id) == place_id, col(Customer.id) == customer_id
    )
    connection = await session.connection()
    row = (await connection.execute(columns)).first()
    if row is None:
        return set()
    return {segment_id for segment_id, member in zip(found, row, strict=True) if member}


# --- compiling ------------------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _members(segment: Segment, dialect_name: str) -> Clause:
    """Membership without the place filter (the caller adds it once)."""
    if segment.kind == "static":
        listed = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
        return col(Customer.id).in_(listed)
    if segment.kind == "rule":
        return _rules(segment, dialect_name)
    raise ValueError(f"segment {segment.id} has an unknown kind {segment.kind!r}")


def _rules(segment: Segment, dialect_name: str) -> Clause:
    conditions = segment.conditions or []
    path = f"segments.{segment.id}.conditions"
    issues: list[Issue] = []
    for i, condition in enumerate(conditions):
        issues += check_condition(condition, f"{path}.{i}", SEGMENT_OPERATORS)
    if segment.match not in ("all", "any"):
        issues.append(Issue(f"segments.{segment.id}.match", "must be all or any"))
    if issues:
        # Stored segments were checked when saved; this guards against rows written otherwise.
        raise Invalid(issues, f"Segment {segment.id} has invalid rules.")
    compiler = _compiler(dialect_name)
    clauses = [_condition(compiler, condition) for condition in conditions]
    if segment.match == "all":
        return and_(*clauses) if clauses else true()
    return or_(*clauses) if clauses else false()


def _condition(compiler: "_Compiler", condition: dict[str, Any]) -> Clause:
    parts = condition["attribute"].split(".")
    operator = condition["operator"]
    if operator == "exists":
        return compiler.exists(parts)
    if operator == "eq":
        return compiler.equals_any(parts, [condition["value"]])
    if operator == "ne":
        return not_(compiler.equals_any(parts, [condition["value"]]))
    if operator == "in":
        return compiler.equals_any(parts, condition["value"])
    return compiler.compare(parts, operator, condition["value"])


def _compiler(dialect_name: str) -> "_Compiler":
    if dialect_name == "sqlite":
        return _Sqlite()
    if dialect_name == "postgresql":
        return _Postgres()
    raise ValueError(f"segments cannot be evaluated on {dialect_name!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Compiler:
    def exists(self, parts: list[str]) -> Clause:
        raise NotImplementedError

    def equals_any(self, parts: list[str], values: Sequence[Any]) -> Clause:
        raise NotImplementedError

    def compare(self, parts: list[str], operator: str, value: Any) -> Clause:
        raise NotImplementedError


# SQLite: a key made only of these can sit in a quoted JSON path label as-is; any other key
# is stored escaped by json.dumps, and older SQLite compares labels with the escaped text.
_PLAIN_KEY = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SQLITE_NUMBER_TYPES = ("integer", "real")


@dataclass(frozen=True)
class _SqliteNode:
    """A place in a JSON document: `path` inside `doc`, or the child `key` of it."""

    doc: ColumnElement[Any]
    path: str = "$"
    key: str | None = None

    def child(self, key: str) -> "_SqliteNode":
        parent = self._as_document()
        if _PLAIN_KEY.fullmatch(key):
            return _SqliteNode(parent.doc, f'{parent.path}."{key}"')
        return _SqliteNode(parent.doc, parent.path, key)

    def type(self) -> ColumnElement[Any]:
        """json_type's names (null true false integer real text array object); NULL if absent."""
        if self.key is None:
            return func.json_type(self.doc, self.path)
        each = self._each()
        return select(each.c.type).where(each.c.key == self.key).scalar_subquery()

    def value(self) -> ColumnElement[Any]:
        """The SQL value of a scalar (text decoded, numbers as numbers)."""
        if self.key is None:
            return func.json_extract(self.doc, self.path)
        each = self._each()
        return select(each.c.atom).where(each.c.key == self.key).scalar_subquery()

    def _each(self) -> Any:
        # An array's json_each keys are integers and never equal a text key: only object
        # members match, as in the oracle.
        return func.json_each(self.doc, self.path).table_valued("key", "type", "atom", "value")

    def _as_document(self) -> "_SqliteNode":
        if self.key is None:
            return self
        each = self._each()
        child = select(each.c.value).where(each.c.key == self.key, each.c.type == "object")
        return _SqliteNode(child.scalar_subquery())


class _Sqlite(_Compiler):
    def node(self, parts: list[str]) -> _SqliteNode:
        node = _SqliteNode(_ATTRIBUTES)
        for part in parts:
            node = node.child(part)
        return node

    def exists(self, parts: list[str]) -> Clause:
        return func.coalesce(self.node(parts).type(), "null") != "null"

    def equals_any(self, parts: list[str], values: Sequence[Any]) -> Clause:
        node = self.node(parts)
        kind, value = node.type(), node.value()
        clauses: list[Clause] = []
        # null, true and false are told apart by type alone (json_extract gives 1 for true).
        types = {_sqlite_constant_type(v) for v in values if v is None or isinstance(v, bool)}
        if types:
            clauses.append(func.coalesce(kind, "").in_(sorted(types)))
        strings = [v for v in values if isinstance(v, str)]
        if strings:
            clauses.append(_when(kind == "text", value.in_(strings)))
        numbers = [_sqlite_number(v) for v in values if _is_number(v)]
        if numbers:
            clauses.append(_when(kind.in_(_SQLITE_NUMBER_TYPES), value.in_(numbers)))
        return or_(*clauses) if clauses else false()

    def compare(self, parts: list[str], operator: str, value: Any) -> Clause:
        node = self.node(parts)
        compare = _COMPARE[operator]
        if isinstance(value, str):
            # BINARY collation compares UTF-8 bytes: code-point order.
            return _when(node.type() == "text", compare(node.value(), value))
        if _is_number(value):
            is_number = node.type().in_(_SQLITE_NUMBER_TYPES)
            return _when(is_number, compare(node.value(), _sqlite_number(value)))
        return false()


def _sqlite_constant_type(value: bool | None) -> str:
    if value is None:
        return "null"
    return "true" if value else "false"


def _sqlite_number(value: float) -> float:
    # SQLite integers are 64-bit; a larger one can only be compared as a float (its stored
    # counterpart is read as a float too).
    if isinstance(value, int) and value not in _INT64:
        return float(value)
    return value


class _Postgres(_Compiler):
    def __init__(self) -> None:
        self.doc: ColumnElement[Any] = type_coerce(_ATTRIBUTES, JSONB)

    def node(self, parts: list[str]) -> ColumnElement[Any]:
        # `->` with a text key reads object fields only (`#>` would index arrays with "0").
        # (SQLAlchemy's `doc[key]` renders jsonb subscripting, which indexes arrays too.)
        node = self.doc
        for part in parts:
            node = node.op("->", return_type=JSONB)(literal(part, String))
        return node

    def text(self, parts: list[str]) -> ColumnElement[str]:
        """The string at the path, unquoted (`->>`)."""
        parent = self.node(parts[:-1])
        return parent.op("->>", return_type=String)(literal(parts[-1], String))

    def exists(self, parts: list[str]) -> Clause:
        return func.coalesce(func.jsonb_typeof(self.node(parts)), "null") != "null"

    def equals_any(self, parts: list[str], values: Sequence[Any]) -> Clause:
        # Containment is JSON-typed equality at the path: a string never contains a number,
        # 1 contains 1.0, an array at the path never contains a scalar below the top level.
        return or_(*(self.doc.contains(_nested(parts, value)) for value in values))

    def compare(self, parts: list[str], operator: str, value: Any) -> Clause:
        node = self.node(parts)
        kind = func.jsonb_typeof(node)
        compare = _COMPARE[operator]
        # CASE, not AND: PostgreSQL may evaluate AND operands in any order, and casting a
        # string to NUMERIC raises.
        if isinstance(value, str):
            text = self.text(parts).collate("C")
            return _when(kind == "string", compare(text, value))
        if _is_number(value):
            # repr is the float's JSON text, which is what JSONB stored for an attribute.
            exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            number = literal(exact, Numeric())
            return _when(kind == "number", compare(cast(node, Numeric), number))
        return false()


def _nested(parts: list[str], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        document = {part: document}
    return document


def _when(condition: ColumnElement[Any], then: ColumnElement[Any]) -> Clause:
    """`then` where `condition` holds, else false; never NULL (NULL conditions go to else)."""
    return case((condition, then), else_=false())
