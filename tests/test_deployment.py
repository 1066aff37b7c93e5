"""The deployment files, checked without a Docker engine: the compose stack's services,
commands, pinned images, health checks and settings, the image's user and entry point, and
that the project installs as the image installs it (a wheel, not the source tree)."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from journeys.settings import Settings
from tests.helpers.dev import JOURNEYS

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-ui",
    "temporal-setup",
    "migrate",
    "api",
    "worker",
    "mailpit",
}
JOBS = {"temporal-schema", "temporal-setup", "migrate"}
# What .dockerignore keeps out of the image's build context (read from it, as docker does).
IGNORED = [
    line.strip().removeprefix("**/")
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip()
]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def test_the_stack_has_every_part(compose):
    services = _services(compose)
    assert set(services) == SERVICES
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert "auto-setup" not in (ROOT / "docker-compose.yml").read_text()
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    commands = {name: services[name].get("command") for name in ("api", "worker", "migrate")}
    assert commands == {
        "api": ["api", "--host", "0.0.0.0", "--port", "8000"],
        "worker": ["worker"],
        "migrate": ["migrate"],
    }
    assert services["temporal-setup"]["command"] == ["temporal-setup"]
    assert services["mailpit"]["profiles"] == ["demo"]


def test_images_are_pinned(compose):
    for name, service in _services(compose).items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} has no version in its tag"


def test_health_checks_gate_the_start_order(compose):
    services = _services(compose)
    for name in ("postgresql", "temporal", "api", "worker", "mailpit"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["temporal-schema"] == {"postgresql": "service_healthy"}
    assert conditions["temporal"] == {"temporal-schema": "service_completed_successfully"}
    assert conditions["temporal-setup"] == {"temporal": "service_healthy"}
    assert conditions["migrate"] == {"postgresql": "service_healthy"}
    for name in ("api", "worker"):
        assert conditions[name] == {
            "migrate": "service_completed_successfully",
            "temporal-setup": "service_completed_successfully",
        }
    for name in JOBS:
        assert services[name]["restart"] in ("no", "on-failure"), name


def test_workers_scale(compose):
    worker = _services(compose)["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker  # a published port would clash between replicas
    assert worker["environment"]["JOURNEYS_METRICS_BIND"].endswith(":9464")


def test_every_setting_the_stack_sets_exists(compose):
    fields = {f"JOURNEYS_{name.upper()}" for name in Settings.model_fields}
    for name, service in _services(compose).items():
        environment = service.get("environment") or {}
        for variable in environment:
            if variable.startswith("JOURNEYS_"):
                assert variable in fields, f"{name} sets {variable}, which is no setting"
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in re.findall(r"\$\{(JOURNEYS_\w+)", text):
        assert variable in fields, variable


def test_every_setting_is_documented():
    docs = "\n".join(page.read_text() for page in sorted((ROOT / "docs").glob("*.md")))
    undocumented = [
        f"JOURNEYS_{name.upper()}"
        for name in Settings.model_fields
        if f"`JOURNEYS_{name.upper()}`" not in docs
    ]
    assert undocumented == []


def test_required_settings_must_be_given(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"POSTGRES_PASSWORD", "JOURNEYS_SMTP_HOST", "JOURNEYS_EMAIL_FROM"}
    secrets = [
        (name, key, value)
        for name, service in _services(compose).items()
        for key, value in (service.get("environment") or {}).items()
        if "PASSWORD" in key or key.endswith("_PWD")
    ]
    assert secrets
    for name, key, value in secrets:  # never a password written into the file
        assert str(value).startswith("${"), f"{name}: {key}"


def test_the_image_runs_as_a_user_with_journeys_as_entry_point():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    base = next(line for line in lines if line.startswith("FROM "))
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-\w+", base), base
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert 'ENTRYPOINT ["journeys"]' in lines
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", ".journeys"} <= set(ignored)


def test_the_wheel_holds_everything_the_commands_need(tmp_path):
    """The image installs the project as a wheel: every package, module and migration must
    be in it. Run from the unpacked wheel alone, `journeys migrate` builds a database."""
    # Built from a copy, as `docker build` copies the context: nothing is written here.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*IGNORED))
    sources = {p.relative_to(source).as_posix() for p in source.rglob("*.py")}
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("journeys-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    names = {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*.py")}
    assert sources - names == set()
    database = tmp_path / "fresh.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(unpacked),
        "JOURNEYS_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }
    probe = "import journeys.cli as c, store.migrations as m; print(c.__file__, m.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert where.stdout.split() and all(
        path.startswith(str(unpacked)) for path in where.stdout.split()
    ), where.stdout + where.stderr
    migrated = subprocess.run(
        [*JOURNEYS, "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert database.stat().st_size > 0
