"""Fixtures live in tests/fixtures (one module per part of the stack); helpers that test
modules share live in tests/helpers. No test module imports another."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.providers",
    "tests.fixtures.temporal",
    "tests.fixtures.api",
    "tests.fixtures.engine",
    "tests.fixtures.soak",
]
