"""Generated `machineConfig`s: valid ones, and ones with one rule broken (and what the
parser must say about them). Shared by tests/workflows/test_machine.py and tests/api."""

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from journeys.local_time import WEEKDAYS
from workflows.model.machine import (
    CHANNELS,
    DURATION_UNITS,
    TRANSITIONS,
)
from workflows.model.operators import CONDITION_OPERATORS as OPERATORS

STEP_TYPES = list(TRANSITIONS)
MAX_ID = 2**63 - 1
FINAL = {"type": "final"}
# Per-unit caps that keep any combination well under the 100-year limit.
UNIT_MAX = {
    "years": 10,
    "months": 100,
    "weeks": 500,
    "days": 3000,
    "hours": 50_000,
    "minutes": 10**6,
    "seconds": 10**7,
}
# Text the API can store: no lone surrogates and no NUL (the body guard refuses both).
TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
ids = st.integers(1, MAX_ID)
names = st.text(TEXT, min_size=1, max_size=12).filter(str.strip)
attribute_parts = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00."), min_size=1, max_size=8
).filter(str.strip)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(TEXT, max_size=10)
)


def shuffled(draw: st.DrawFn, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A dict of `pairs` in a drawn order: key order must survive the round trip."""
    return dict(draw(st.permutations(pairs)))


# The ids a step may name, by kind: "email", "sms", "push", "campaign" or "segment".
IdsFor = Callable[[str], st.SearchStrategy[int]]


def any_ids(kind: str) -> st.SearchStrategy[int]:
    return ids


def _target_pairs(
    draw: st.DrawFn, keys: tuple[str, str], id_strategy: st.SearchStrategy[int], refs: bool
) -> tuple[str, Any]:
    id_key, ref_key = keys
    if refs and draw(st.booleans()):
        return ref_key, draw(names)
    return id_key, draw(id_strategy)


def _durations(draw: st.DrawFn, pauses: bool) -> list[tuple[str, Any]]:
    units = draw(st.lists(st.sampled_from(list(UNIT_MAX)), min_size=1, unique=True))
    values = [draw(st.integers(0, UNIT_MAX[u])) for u in units]
    if pauses and not any(values):
        values[0] = draw(st.integers(1, UNIT_MAX[units[0]]))
    return list(zip(units, values, strict=True))


BRANCHES = ["A", "B", "C", "CONTROL", "holdout", "Variant_2"]


def _events(draw: st.DrawFn, step_type: str) -> list[str]:
    """The transition events of a step of this type (a split's are drawn branch names)."""
    if step_type == "split":
        return draw(st.lists(st.sampled_from(BRANCHES), min_size=2, max_size=4, unique=True))
    return list(TRANSITIONS[step_type])


def _meta(
    draw: st.DrawFn,
    step_type: str,
    pauses: bool,
    refs: bool,
    ids_for: IdsFor,
    events: list[str],
) -> dict[str, Any]:
    pairs: list[tuple[str, Any]] = [("type", step_type)]
    if step_type == "split":
        weights = [draw(st.integers(0, 100)) for _ in events]
        weights[0] = weights[0] or 1
        pairs.append(("branches", dict(zip(events, weights, strict=True))))
    elif step_type in CHANNELS:
        keys = ("templateId", "templateRef")
        pairs.append(_target_pairs(draw, keys, ids_for(CHANNELS[step_type]), refs))
    elif step_type == "create_campaign":
        keys = ("campaignId", "campaignRef")
        pairs.append(_target_pairs(draw, keys, ids_for("campaign"), refs))
    elif step_type == "wait_for_duration":
        pairs += _durations(draw, pauses)
    elif step_type == "wait_for_event":
        pairs.append(("event", draw(st.sampled_from(["order.created", "account.updated"]))))
        pairs += _durations(draw, pauses)
    elif step_type == "update_customer":
        values = [1, True, "{{ journey.id }}", {"a": [1, 2]}, "gold"]
        paths = ["attributes.tier", "attributes.a.b", "email", "timezone"]
        which = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))
        assign = {p: draw(st.sampled_from(values)) for p in which if p.startswith("attributes")}
        if "email" in which:
            assign["email"] = "{{ customer.id }}@example.com"
        pairs.append(("set", assign or {"attributes.x": 1}))
        if "timezone" in which:
            pairs.append(("unset", ["timezone"]))
    elif step_type == "webhook":
        # An address, not a name: saving resolves names, and a generated config shouldn't.
        pairs.append(("url", f"https://93.184.216.34/hooks/{draw(st.integers(0, 99))}"))
        if draw(st.booleans()):
            pairs.append(("method", draw(st.sampled_from(["POST", "PUT", "GET"]))))
        if draw(st.booleans()):
            pairs.append(("headers", {"Authorization": "Bearer x", "X-Source": "journeys"}))
        if draw(st.booleans()):
            pairs.append(("body", '{"id": {{ customer.id }}}'))
    elif step_type == "wait_until":
        pairs.append(("time", f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"))
        if draw(st.booleans()):
            days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, unique=True))
            pairs.append(("weekdays", days))
        if draw(st.booleans()):
            zones = ["customer", "place", "Europe/Amsterdam", "America/New_York", "UTC"]
            pairs.append(("timezone", draw(st.sampled_from(zones))))
    elif step_type == "wait_for_condition":
        which = draw(st.sampled_from([["include"], ["exclude"], ["include", "exclude"]]))
        lists = [draw(st.lists(ids_for("segment"), max_size=4)) for _ in which]
        if not any(lists):
            lists[0].append(draw(ids_for("segment")))
        pairs += list(zip(which, lists, strict=True))
    else:
        operator = draw(st.sampled_from(OPERATORS))
        attribute = ".".join(draw(st.lists(attribute_parts, min_size=1, max_size=3)))
        pairs += [("attribute", attribute), ("operator", operator)]
        if operator == "in":
            pairs.append(("value", draw(st.lists(scalars, min_size=1, max_size=4))))
        elif operator != "exists":
            pairs.append(("value", draw(scalars)))
    return shuffled(draw, pairs)


@st.composite
def valid_configs(draw: st.DrawFn, refs: bool = False, ids_for: IdsFor = any_ids) -> dict[str, Any]:
    """A valid machineConfig of any of the step types, with branches and loops.

    States are numbered in the order they are wired: each one after the first fills an open
    transition of an earlier one (so all are reachable and a final state always is). The
    transitions still open point forward, or back (or to themselves) when their source or their
    target pauses. Every cycle holds a backward edge and both its ends, so every cycle pauses.
    With `refs`, sends and campaigns may use templateRef/campaignRef (recommendation configs);
    `ids_for` gives the template, campaign and segment ids to use.
    """
    # Only a condition's or a split's further transitions are left over once every state is
    # reachable, so conditions are drawn more often: branches and loops come from them.
    kinds = [*STEP_TYPES, "condition", "condition"]
    types = draw(st.lists(st.sampled_from(kinds), max_size=8))
    n = len(types)
    finals = 1 if n == 0 else draw(st.integers(1, 2))
    labels = draw(st.lists(names, min_size=n + finals, max_size=n + finals, unique=True))
    pauses = [
        t == "wait_for_condition"
        or (t in ("wait_for_duration", "wait_for_event") and draw(st.integers(0, 3)) > 0)
        for t in types
    ]
    events = [_events(draw, t) for t in types]
    edges: dict[tuple[int, str], int] = {}
    open_slots = [(0, event) for event in events[0]] if n else []
    count = 1
    for j in range(1, n + finals):
        if not open_slots:  # only extra finals can run out of places to hang from
            break
        edges[open_slots.pop(draw(st.integers(0, len(open_slots) - 1)))] = j
        if j < n:
            open_slots += [(j, event) for event in events[j]]
        count = j + 1
    for i, event in open_slots:
        back = [j for j in range(i + 1) if pauses[i] or pauses[j]]
        if back and draw(st.integers(0, 3)) > 0:  # mostly back: loops are the interesting part
            edges[(i, event)] = draw(st.sampled_from(back))
        else:
            edges[(i, event)] = draw(st.integers(i + 1, count - 1))

    states = []
    for i in range(count):
        if i >= n:
            states.append((labels[i], dict(FINAL)))
            continue
        on = shuffled(draw, [(e, labels[edges[(i, e)]]) for e in events[i]])
        meta = _meta(draw, types[i], pauses[i], refs, ids_for, events[i])
        states.append((labels[i], shuffled(draw, [("meta", meta), ("on", on)])))
    return shuffled(draw, [("initial", labels[0]), ("states", shuffled(draw, states))])


# --- One rule broken ---------------------------------------------------------------------
# Each mutation breaks one rule of a valid config in place and returns the paths where a
# detail must appear and a word its message must contain, or None if it does not apply.

Expected = tuple[set[str], str] | None
ROOT = "machine_config"


def _at(name: str, *rest: str) -> str:
    return ".".join((ROOT, "states", name, *rest))


def _fresh(states: dict[str, Any]) -> str:
    name = "missing"
    while name in states:
        name += "_"
    return name


def _nonfinal(config: dict[str, Any], types: tuple[str, ...] = tuple(STEP_TYPES)) -> list[str]:
    return [n for n, s in config["states"].items() if "meta" in s and s["meta"]["type"] in types]


def _pauses(state: dict[str, Any]) -> bool:
    meta = state.get("meta", {})
    if meta.get("type") in ("wait_for_duration", "wait_for_event"):
        return any(meta.get(unit) for unit in DURATION_UNITS)
    return meta.get("type") in ("wait_for_condition", "wait_until")


def _bad_initial(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    config["initial"] = _fresh(config["states"])
    return {f"{ROOT}.initial"}, "names no state"


def _missing_meta(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config)):
        return None
    name = draw(st.sampled_from(candidates))
    del config["states"][name]["meta"]
    return {_at(name, "meta")}, "required"


def _final_with_extra(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    finals = [n for n, s in config["states"].items() if s == FINAL]
    name = draw(st.sampled_from(finals))
    key = draw(st.sampled_from(["meta", "on"]))
    config["states"][name][key] = {"DONE": name} if key == "on" else {"type": "send_sms"}
    return {_at(name, key)}, "final state"


def _missing_event(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config)):
        return None
    name = draw(st.sampled_from(candidates))
    on = config["states"][name]["on"]
    del on[draw(st.sampled_from(sorted(on)))]
    return {_at(name, "on")}, "must handle"


def _extra_event(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config)):
        return None
    name = draw(st.sampled_from(candidates))
    on = config["states"][name]["on"]
    event = draw(
        st.sampled_from([e for e in ("DONE", "ELAPSED", "TRUE", "TIMEOUT") if e not in on])
    )
    on[event] = draw(st.sampled_from(sorted(config["states"])))
    return {_at(name, "on", event)}, "never sends"


def _dangling_target(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config)):
        return None
    name = draw(st.sampled_from(candidates))
    on = config["states"][name]["on"]
    event = draw(st.sampled_from(sorted(on)))
    on[event] = _fresh(config["states"])
    return {_at(name, "on", event)}, "names no state"


def _id_and_ref(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    sends = ("send_email", "send_sms", "send_push_notification", "create_campaign")
    if not (candidates := _nonfinal(config, sends)):
        return None
    name = draw(st.sampled_from(candidates))
    meta = config["states"][name]["meta"]
    what = "campaign" if meta["type"] == "create_campaign" else "template"
    id_key, ref_key = f"{what}Id", f"{what}Ref"
    if draw(st.booleans()):
        del meta[id_key if id_key in meta else ref_key]  # neither
    else:
        meta[id_key], meta[ref_key] = 5, "welcome"  # both
    return {_at(name, "meta", id_key)}, "exactly one"


def _bad_duration(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config, ("wait_for_duration",))):
        return None
    name = draw(st.sampled_from(candidates))
    meta = config["states"][name]["meta"]
    if draw(st.booleans()):
        for unit in DURATION_UNITS:
            meta.pop(unit, None)
        return {_at(name, "meta")}, "at least one duration unit"
    unit = draw(st.sampled_from(list(DURATION_UNITS)))
    meta[unit] = draw(st.sampled_from([-1, 1.5, True, "3", None, [1]]))
    return {_at(name, "meta", unit)}, "non-negative integer"


def _bad_segment_ids(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config, ("wait_for_condition",))):
        return None
    name = draw(st.sampled_from(candidates))
    meta = config["states"][name]["meta"]
    key = draw(st.sampled_from(["include", "exclude"]))
    if draw(st.booleans()):
        meta[key] = draw(st.sampled_from([12, "12", {"id": 12}]))
        return {_at(name, "meta", key)}, "list of segment ids"
    meta[key] = [draw(st.sampled_from([0, -3, "12", True, 2**70, 1.0]))]
    return {_at(name, "meta", key, "0")}, "positive integer"


def _bad_operator(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config, ("condition",))):
        return None
    name = draw(st.sampled_from(candidates))
    meta = config["states"][name]["meta"]
    broken = draw(st.sampled_from(["unknown", "in", "exists"]))
    if broken == "unknown":
        meta["operator"] = draw(st.sampled_from(["gt", "EQ", "", None]))
        return {_at(name, "meta", "operator")}, "must be one of"
    if broken == "in":
        meta["operator"], meta["value"] = "in", draw(st.sampled_from(["vip", [], {}, 3]))
        return {_at(name, "meta", "value")}, "list"
    meta["operator"], meta["value"] = "exists", draw(scalars)
    return {_at(name, "meta", "value")}, "no value"


def _unknown_meta_key(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    if not (candidates := _nonfinal(config)):
        return None
    name = draw(st.sampled_from(candidates))
    key = draw(st.sampled_from(["colour", "templateID", "day", "segments", "value2"]))
    config["states"][name]["meta"][key] = 1
    return {_at(name, "meta", key)}, "unknown key"


def _unreachable(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    name = _fresh(config["states"])
    config["states"][name] = draw(
        st.sampled_from(
            [
                dict(FINAL),
                {"meta": {"type": "send_sms", "templateId": 1}, "on": {"DONE": config["initial"]}},
            ]
        )
    )
    return {_at(name)}, "can never run"


def _unpaused_loop(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    """Route one transition of a non-pausing state through a new state that leads back to it."""
    states = config["states"]
    candidates = [n for n in _nonfinal(config) if not _pauses(states[n])]
    if not candidates:
        return None
    name = draw(st.sampled_from(candidates))
    event = draw(st.sampled_from(sorted(states[name]["on"])))
    was = states[name]["on"][event]
    loop = _fresh(states)
    states[loop] = draw(
        st.sampled_from(
            [
                {
                    "meta": {"type": "condition", "attribute": "a", "operator": "exists"},
                    "on": {"TRUE": name, "FALSE": was},
                },
                # A zero-length wait does not make a loop safe.
                {"meta": {"type": "wait_for_duration", "seconds": 0}, "on": {"ELAPSED": name}},
            ]
        )
    )
    states[name]["on"][event] = loop
    return {_at(n) for n in states}, "no wait step"


def _no_final(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    """Turn every final state into a wait that repeats forever."""
    states = config["states"]
    for name, state in states.items():
        if state == FINAL:
            states[name] = {
                "meta": {"type": "wait_for_duration", "days": 1},
                "on": {"ELAPSED": name},
            }
    return {f"{ROOT}.states"}, "no final state"


def _not_an_object(draw: st.DrawFn, config: dict[str, Any]) -> Expected:
    raise AssertionError("handled by broken_configs")  # the config itself is replaced


MUTATIONS = [
    _bad_initial,
    _missing_meta,
    _final_with_extra,
    _missing_event,
    _extra_event,
    _dangling_target,
    _id_and_ref,
    _bad_duration,
    _bad_segment_ids,
    _bad_operator,
    _unknown_meta_key,
    _unreachable,
    _unpaused_loop,
    _no_final,
    _not_an_object,
]


@st.composite
def broken_configs(draw: st.DrawFn) -> tuple[Any, set[str], str]:
    """A valid config with one rule broken: (config, acceptable detail paths, message word)."""
    config = copy.deepcopy(draw(valid_configs()))
    for mutation in draw(st.permutations(MUTATIONS)):
        if mutation is _not_an_object:
            return draw(st.sampled_from(["x", [], [config], 5, True])), {ROOT}, "must be an object"
        expected = mutation(draw, config)
        if expected is not None:
            return config, *expected
    raise AssertionError("_bad_initial always applies")


def assert_names(issues: list[dict[str, str]], paths: set[str], word: str) -> None:
    """Some issue is at one of `paths` and says `word`; every issue is inside machine_config."""
    assert issues
    assert all(i["path"] == ROOT or i["path"].startswith(ROOT + ".") for i in issues), issues
    assert any(i["path"] in paths and word in i["message"] for i in issues), (paths, word, issues)
