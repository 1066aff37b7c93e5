"""The deployment files, checked without a Docker engine: the compose stack's services,
commands, pinned images, health checks and settings, the image's user and entry point, and
that the project installs as the image installs it (a wheel built from the image's build
context, emulated with Docker's .dockerignore rules, not the source tree)."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker.utils.build import exclude_paths

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


# --- the image ------------------------------------------------------------------------------

# Files a careless operator leaves in the checkout, and what else looks like a secret.
PLANTED_SECRETS = [
    "journeys.env",
    ".env",
    ".env.production",
    "secrets/temporal-client.key",
    "secrets/temporal-client.pem",
    "client.pem",
    "server.key",
    "tls/server.crt",
    "id_rsa",
    "id_ed25519.pub",
    ".netrc",
    ".pypirc",
    "api/.env",
    "api/settings.env",
    "journeys/client.key",
    "store/backup.p12",
    "workflows/keystore.jks",
]


def _build_context(source: Path) -> set[str]:
    """The files `docker build` sends from `source`: its .dockerignore applied as Docker
    does (docker-py's implementation of Docker's rules: `**`, `!` exceptions, a directory's
    match covering what is under it, the last matching pattern deciding)."""
    lines = (source / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    included = exclude_paths(str(source), patterns)
    return {path for path in included if (source / path).is_file()}


def _the_wheels_sources() -> set[str]:
    """What `pip wheel` reads: pyproject.toml, README.md (the description), the root module,
    and each package's modules and package data, as pyproject.toml declares them."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    excluded = setuptools["packages"]["find"]["exclude"]
    files = {"pyproject.toml", "README.md", *(f"{m}.py" for m in setuptools["py-modules"])}
    for top in sorted(ROOT.iterdir()):
        if not (top / "__init__.py").is_file() or any(fnmatch(top.name, x) for x in excluded):
            continue
        files |= {p.relative_to(ROOT).as_posix() for p in top.rglob("*.py")}
    for package, globs in setuptools["package-data"].items():
        directory = ROOT / package.replace(".", "/")
        for pattern in globs:
            files |= {p.relative_to(ROOT).as_posix() for p in directory.glob(pattern)}
    return {path for path in files if "__pycache__" not in path}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A copy of the checkout with secrets planted in it, and its build context."""
    source = tmp_path_factory.mktemp("checkout")
    junk = shutil.ignore_patterns(".git", ".venv", ".ci-venv", "__pycache__", "*.pyc", ".*_cache")
    shutil.copytree(ROOT, source, ignore=junk, dirs_exist_ok=True)
    for secret in PLANTED_SECRETS:
        (source / secret).parent.mkdir(parents=True, exist_ok=True)
        (source / secret).write_text("secret\n")
    return source, _build_context(source)


def test_no_secret_reaches_the_build_context(context):
    _, included = context
    assert not set(PLANTED_SECRETS) & included
    # An allow-list: what isn't the project's code stays out, whatever its name.
    assert not {path for path in included if path.startswith(("deploy/", "docs/", "tests/"))}
    assert not {path for path in included if path.startswith(("bench/", ".ci/", ".git"))}


def test_the_build_context_holds_what_the_wheel_is_built_from(context):
    _, included = context
    needed = _the_wheels_sources()
    assert "store/migrations/script.py.mako" in needed and "api/app.py" in needed
    assert needed - included == set(), "add the package to .dockerignore's allow-list"


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions, one list per stage (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    stages: list[list[str]] = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_the_image_keeps_no_layer_with_the_build_context():
    """`COPY . /src` then `rm -rf /src` would keep the context in the COPY's layer: the
    context is copied in a build stage only, and the image takes that stage's wheel."""
    *builds, image = _stages()
    assert builds, "no build stage"
    for instruction in image:
        if instruction.startswith(("COPY ", "ADD ")):
            assert "--from=" in instruction, f"the image copies from the context: {instruction}"
    assert any(i.startswith("COPY . ") for stage in builds for i in stage)
    assert any("pip install /wheel/" in i for i in image)


def test_the_image_runs_as_a_user_with_journeys_as_entry_point():
    *_, image = _stages()
    base = image[0]
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-\w+", base), base
    user = [line for line in image if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert 'ENTRYPOINT ["journeys"]' in image


def test_the_wheel_holds_everything_the_commands_need(context, tmp_path):
    """The image installs the project as a wheel built from the build context: every
    package, module and migration must be in it. Run from the unpacked wheel alone,
    `journeys migrate` builds a database."""
    checkout, included = context
    source = tmp_path / "source"
    for path in included:
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / path, source / path)
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
