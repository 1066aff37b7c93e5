"""The quick soak (`python -m bench.soak --quick`): the real stack as processes, under load and
faults, on SQLite and on PostgreSQL (when reachable; required when
JOURNEYS_TEST_REQUIRE_POSTGRES=1). Each test reads its backend's ledger and asserts every
scenario's expectations (no message lost or logged twice, no duplicate delivery, the faults
done, 503 rather than 500, every execution ended …).

Both backends run at the same time, each in a soak process of its own, and share the
scenarios out (1.5 to 2.5 minutes on a 2-core machine, by how busy it is, instead of 3 to 4): both
take the load and the database outage (they differ by backend), SQLite the worker kills and
the Temporal restart, PostgreSQL the SMTP outage and the API kills. Without PostgreSQL,
SQLite runs all six; JOURNEYS_TEST_SOAK_ALL=1 runs all six on both."""

import pytest

from tests.fixtures.soak import LIMIT_SECONDS, SoakRun


@pytest.mark.e2e
@pytest.mark.timeout(LIMIT_SECONDS + 120)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_quick_soak_keeps_its_promises(soaks: dict[str, SoakRun], backend: str) -> None:
    run = soaks[backend]
    ledger = run.result()
    scenarios = {s["scenario"]: s for s in ledger["scenarios"]}
    assert list(scenarios) == run.scenarios, run.tail()
    broken = []
    for name, scenario in scenarios.items():
        if scenario["error"]:
            broken.append(f"{name}: {scenario['error']}")
        broken += [
            f"{name}: expected {e['what']}, got {e['got']}"
            for e in scenario["expectations"]
            if not e["ok"]
        ]
    assert not broken, (
        f"{len(broken)} broken promises ({backend}; logs in {run.run_dir}):\n"
        + "\n".join(broken)
        + f"\n\n{run.tail(200)}"
    )
    # Each scenario did what it claims: events went in, messages came out, faults happened.
    for name, scenario in scenarios.items():
        assert scenario["events_sent"] > 0 and scenario["messages_expected"] > 0, name
        assert scenario["lost"] == 0 and scenario["log_duplicates"] == 0, name
    if "worker-kill" in scenarios:
        assert len([f for f in scenarios["worker-kill"]["faults"] if "SIGKILLed" in f]) == 3
    if "api-kill" in scenarios:
        assert any("SIGKILLed" in f for f in scenarios["api-kill"]["faults"])
    assert ledger["exit"] == 0, run.tail()
