"""The deployment files, checked without a Docker engine: the compose stack against the
compose specification's JSON schema, its services, commands, pinned images, health checks,
published ports and settings (compose's own precedence of env files and `environment:`, its
interpolation and its reading of env files, emulated after compose-go), the scripts its jobs
run (under a POSIX `sh`, against stub tools), PostgreSQL's roles (run against the PostgreSQL
the suite uses), the image's build context (Docker's .dockerignore rules) and stages, and
that the project installs as the image installs it (a wheel built from that context, not the
source tree)."""

import base64
import hashlib
import hmac
import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from docker.utils.build import exclude_paths
from sqlalchemy.engine import make_url

from journeys.settings import Settings
from tests.fixtures.database import POSTGRES_URL, REQUIRE_POSTGRES
from tests.helpers.dev import JOURNEYS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLOUD_FILE = ROOT / "deploy" / "temporal-cloud.yml"
CLOUD_MTLS_FILE = ROOT / "deploy" / "temporal-cloud-mtls.yml"
SCHEMA_SCRIPT = ROOT / "deploy" / "temporal" / "schema.sh"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
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
# One-shot jobs: others wait for them to complete successfully.
JOBS = {"temporal-schema", "temporal-setup", "migrate"}
# The services run from the Journeys image, configured by JOURNEYS_* settings.
JOURNEYS_SERVICES = {"temporal-setup", "migrate", "api", "worker"}
TEMPORAL_SERVICES = {"temporal-schema", "temporal", "temporal-ui"}
# Settings that are the stack's wiring, not the operator's: set in `environment:`, which
# journeys.env can't change (the database URL carries POSTGRES_JOURNEYS_PASSWORD; the health check
# and `expose` name the metrics port).
WIRING = {"JOURNEYS_DATABASE_URL"}
WORKER_WIRING = {"JOURNEYS_METRICS_BIND"}
# The three passwords, given to compose by the shell or its .env file; Temporal's is needed by
# the stack's own Temporal only (not with Temporal Cloud).
PASSWORDS = {
    "POSTGRES_PASSWORD": "superuser-secret",
    "POSTGRES_JOURNEYS_PASSWORD": "journeys-secret",
    "POSTGRES_TEMPORAL_PASSWORD": "temporal-secret",
}
REQUIRED_PASSWORDS = {"POSTGRES_PASSWORD", "POSTGRES_JOURNEYS_PASSWORD"}
WITHOUT_TEMPORAL = {k: v for k, v in PASSWORDS.items() if k != "POSTGRES_TEMPORAL_PASSWORD"}
SETTINGS = {f"JOURNEYS_{name.upper()}" for name in Settings.model_fields}


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE_FILE)


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


# --- compose's variable interpolation and environment, as compose-go resolves them --------

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")


class Refused(Exception):
    """What `docker compose` stops with before it starts anything."""


def _interpolate(value: str, shell: Mapping[str, str]) -> str:
    """`value` after compose's interpolation from the shell (or .env): `$$`, `$VAR`,
    `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return shell.get(match["named"], "")
        body = match["braced"]
        assert "$" not in body, f"nested interpolation is not emulated: {body}"
        parts = re.fullmatch(r"(\w+)(:?[-?]|)(.*)", body, re.S)
        assert parts, f"not emulated: ${{{body}}}"
        name, operator, argument = parts.groups()
        given = shell.get(name)
        empty = given is None or (operator.startswith(":") and given == "")
        if operator.endswith("?") and empty:
            raise Refused(f"required variable {name} is missing a value: {argument}")
        if operator.endswith("-") and empty:
            return argument
        return given or ""

    return _VARIABLE.sub(replace, value)


def _interpolate_all(document: Any, shell: Mapping[str, str]) -> Any:
    """A compose file as compose reads it: every string interpolated, in every service, the
    ones a profile or an override file disables included (compose interpolates each file
    before it merges them or looks at profiles)."""
    if isinstance(document, dict):
        return {key: _interpolate_all(value, shell) for key, value in document.items()}
    if isinstance(document, list):
        return [_interpolate_all(value, shell) for value in document]
    return _interpolate(document, shell) if isinstance(document, str) else document


_DOTENV_KEY = re.compile(r"(?:export[ \t]+)?([\w.\-\[\]]+)[ \t]*([=:]?)[ \t]*")
_DOTENV_ESCAPE = re.compile(r"\\([abfnrtv$\"\\])")
_DOTENV_ESCAPED = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _dotenv(
    text: str, lookup: Mapping[str, str] | None = None, values: dict[str, str] | None = None
) -> dict[str, str]:
    r"""An env file as compose reads one (compose-go's dotenv parser): KEY=VALUE (or KEY: VALUE,
    `export KEY=VALUE`), `#` comment lines; an unquoted value ends at the line's end or at
    ` #`, and is interpolated; a single-quoted one is taken as written (`\'` for a quote); a
    double-quoted one has its escapes (`\n`, `\"`, `\$`, …) expanded, then is interpolated.
    Interpolation looks a name up in `lookup` (the shell and .env, then the service's
    `environment:`), then among the values read so far (`values`, updated and returned)."""
    lookup = lookup or {}
    values = {} if values is None else values
    rest = text
    while rest := rest.lstrip():
        if rest.startswith("#"):
            rest = rest.partition("\n")[2]
            continue
        match = _DOTENV_KEY.match(rest)
        assert match and match.group(1), f"not an env file line: {rest.splitlines()[0]!r}"
        key, separator = match.groups()
        rest = rest[match.end() :]
        if not separator:  # a bare KEY takes the value compose looks up
            assert rest[:1] in ("", "\n"), f"not an env file line: {key}{rest.splitlines()[0]}"
            if key in lookup:
                values[key] = lookup[key]
            continue
        if rest[:1] in ("'", '"'):
            quote, characters, escaped, end = rest[0], [], False, None
            for index in range(1, len(rest)):
                character = rest[index]
                if character == quote and not escaped:
                    end = index
                    break
                if character == "\\" and not escaped:
                    escaped = True
                    continue
                if escaped and character != quote:
                    characters.append("\\")
                escaped = False
                characters.append(character)
            assert end is not None, f"unterminated quoted value for {key}"
            value, rest = "".join(characters), rest[end + 1 :]
            if quote == '"':
                value = _DOTENV_ESCAPE.sub(
                    lambda m: "$$" if m[1] == "$" else _DOTENV_ESCAPED.get(m[1], m[1]), value
                )
                value = _interpolate(value, {**values, **lookup})
        else:
            line, _, rest = rest.partition("\n")
            value = _interpolate(line.split(" #", 1)[0].rstrip(), {**values, **lookup})
        values[key] = value
    return values


def _environment_of(
    service: dict[str, Any], shell: Mapping[str, str], project: Path = ROOT
) -> dict[str, str]:
    """A container's environment as compose builds it: its env files in order (a later file
    replaces an earlier one's values; a missing required one refuses the start; values
    interpolated from the shell, then `environment:`, then what was read before), then
    `environment:` (interpolated from the shell) over all of them."""
    environment = {
        key: _interpolate(str(value), shell)
        for key, value in (service.get("environment") or {}).items()
    }
    resolved: dict[str, str] = dict(environment)
    for entry in service.get("env_file") or []:
        if isinstance(entry, str):
            entry = {"path": entry}
        file = project / entry["path"]
        if not file.exists():
            if entry.get("required", True):
                raise Refused(f"env file {file} not found")
            continue
        _dotenv(file.read_text(), {**environment, **shell}, resolved)
    return {**resolved, **environment}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The compose project's directory as an operator has it: the repository's deployment
    files, and a journeys.env of their own (written by the test)."""
    shutil.copy(COMPOSE_FILE, tmp_path / COMPOSE_FILE.name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    return tmp_path


# --- the stack -------------------------------------------------------------------------------


def test_the_compose_files_follow_the_compose_specification():
    """Validated against the compose specification's JSON schema (the copy check-jsonschema
    ships, as its `check-compose-spec` hook uses), the override files too."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in (COMPOSE_FILE, CLOUD_FILE, CLOUD_MTLS_FILE):
        errors = [
            f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load(path))
        ]
        assert errors == [], f"{path.name}: {errors}"
    # The schema does reject what isn't compose (else the check above proves nothing).
    broken = _load(COMPOSE_FILE)
    broken["services"]["api"]["restart_policy"] = "always"
    broken["services"]["worker"]["healthcheck"]["interval"] = 10
    assert len(list(validator.iter_errors(broken))) >= 2


def test_the_stack_has_every_part(compose):
    services = _services(compose)
    assert set(services) == SERVICES
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert "auto-setup" not in COMPOSE_FILE.read_text()
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    commands = {name: services[name].get("command") for name in ("api", "worker", "migrate")}
    assert commands == {
        "api": ["api", "--host", "0.0.0.0", "--port", "8000"],
        "worker": ["worker"],
        "migrate": ["migrate"],
    }
    assert services["temporal-setup"]["command"] == ["temporal-setup"]
    assert services["mailpit"]["profiles"] == ["demo"]
    for name in JOURNEYS_SERVICES:
        assert services[name]["image"].startswith("journeys:"), name


def test_images_are_pinned(compose):
    for name, service in _services(compose).items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} has no version in its tag"
    # One Temporal version for the server and the tools that set up its schema.
    server = _services(compose)["temporal"]["image"].rpartition(":")[2]
    tools = _services(compose)["temporal-schema"]["image"].rpartition(":")[2]
    assert tools.split("-")[0] == server


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


def test_every_job_is_retried_a_bounded_number_of_times(compose):
    """A job that others wait for (`service_completed_successfully`) must end, failed or not:
    under `restart: on-failure` without a count (or `unless-stopped`, which the Journeys
    services' anchor gives), a job that fails for good restarts forever and `docker compose up`
    waits for it forever."""
    services = _services(compose)
    awaited = {
        dependency
        for service in services.values()
        for dependency, spec in (service.get("depends_on") or {}).items()
        if spec["condition"] == "service_completed_successfully"
    }
    assert awaited == JOBS
    for name in JOBS:
        restart = str(services[name].get("restart", "no"))
        bounded = re.fullmatch(r"no|on-failure:(\d+)", restart)
        assert bounded, f"{name}: restart: {restart}"
        assert bounded[1] is None or 1 <= int(bounded[1]) <= 10, f"{name}: restart: {restart}"


def test_postgresql_is_healthy_only_once_it_accepts_tcp_connections(compose):
    """On a new volume the postgres image first runs a server on its Unix socket alone (for
    the init scripts): `pg_isready` without `-h` passes against that one, and the schema job
    then meets a refused connection. Checked over TCP, the server is the final one."""
    test = compose["services"]["postgresql"]["healthcheck"]["test"]
    kind, *command = test
    if kind == "CMD-SHELL":
        (line,) = command
        command = shlex.split(line)
    assert kind in ("CMD", "CMD-SHELL")
    assert command[0] == "pg_isready"
    host = command[command.index("-h") + 1] if "-h" in command else None
    assert host in ("127.0.0.1", "localhost"), f"not over TCP: {test}"
    # The command as the container runs it answers a real server over TCP (the suite's, when
    # it listens where the container's does).
    local = make_url(POSTGRES_URL)
    if (local.host, local.port or 5432) == ("127.0.0.1", 5432) and _postgres_reachable():
        assert subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def test_workers_scale(compose):
    worker = _services(compose)["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker  # a published port would clash between replicas
    assert worker["environment"]["JOURNEYS_METRICS_BIND"].endswith(":9464")


def _published(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(host address, container port) of each port the service publishes."""
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            yield port.get("host_ip", "0.0.0.0"), str(port["target"])
        else:
            parts = str(port).rsplit(":", 2)
            yield (parts[0] if len(parts) == 3 else "0.0.0.0"), parts[-1]


def test_nothing_without_authentication_is_published_beyond_this_host(compose):
    """Temporal's frontend (gRPC, no authentication configured), its UI (every execution's
    input) and the demo mail catcher are published on the loopback address only; the API,
    which checks a key on every request, is the one port for others."""
    services = _services(compose)
    for name in ("temporal", "temporal-ui", "mailpit"):
        published = list(_published(services[name]))
        assert published, name
        for host, _ in published:
            assert host == "127.0.0.1", f"{name} is published on {host or 'every address'}"
    everywhere = {
        name
        for name, service in services.items()
        for host, _ in _published(service)
        if host != "127.0.0.1"
    }
    assert everywhere == {"api"}


def test_every_setting_the_stack_sets_exists(compose):
    for name, service in _services(compose).items():
        environment = service.get("environment") or {}
        for variable in environment:
            if variable.startswith("JOURNEYS_"):
                assert variable in SETTINGS, f"{name} sets {variable}, which is no setting"
    text = COMPOSE_FILE.read_text()
    for variable in re.findall(r"\$\{(JOURNEYS_\w+)", text):
        assert variable in SETTINGS or variable in PASSWORDS, variable
    for env_file in ("journeys-defaults.env", "journeys.env.example"):
        example = (ROOT / "deploy" / env_file).read_text()
        # Commented-out examples too: each names a setting.
        for variable in re.findall(r"^#? ?(JOURNEYS_\w+)=", example, re.M):
            assert variable in SETTINGS, f"{env_file}: {variable}"


def test_every_setting_is_documented():
    docs = "\n".join(page.read_text() for page in sorted((ROOT / "docs").glob("*.md")))
    undocumented = [variable for variable in sorted(SETTINGS) if f"`{variable}`" not in docs]
    assert undocumented == []


def test_required_settings_must_be_given(compose, project):
    """The superuser's and the application's passwords are compose variables, required
    (`${VAR:?…}`), so compose names a missing one before starting anything, whichever files
    and profiles are used; Temporal's is not (Temporal Cloud has no use for it: its absence
    stops the schema job instead). Journeys' settings come from journeys.env, which must exist
    (the worker then names a missing SMTP relay or sender itself)."""
    text = COMPOSE_FILE.read_text()
    assert set(re.findall(r"\$\{(\w+):\?", text)) == REQUIRED_PASSWORDS
    assert set(re.findall(r"\$\{(POSTGRES_TEMPORAL_PASSWORD)\b([^}]*)\}", text)) == {
        ("POSTGRES_TEMPORAL_PASSWORD", ":-")
    }
    for variable in REQUIRED_PASSWORDS:
        partial = {k: v for k, v in PASSWORDS.items() if k != variable}
        for document in (compose, _load(CLOUD_FILE)):
            if variable in json.dumps(document):
                with pytest.raises(Refused, match=variable):
                    _interpolate_all(document, partial)
    services = _services(compose)
    for service in services.values():
        for variable in REQUIRED_PASSWORDS:
            partial = {k: v for k, v in PASSWORDS.items() if k != variable}
            if variable in json.dumps(service):
                with pytest.raises(Refused, match=variable):
                    _environment_of(service, partial, project)
    api = services["api"]
    with pytest.raises(Refused, match=r"journeys\.env"):
        _environment_of(api, PASSWORDS, project)  # no journeys.env yet
    shutil.copy(project / "deploy" / "journeys.env.example", project / "journeys.env")
    environment = _environment_of(api, PASSWORDS, project)
    assert environment["JOURNEYS_SMTP_HOST"] and environment["JOURNEYS_EMAIL_FROM"]
    secrets = [
        (name, key, value)
        for name, service in services.items()
        for key, value in (service.get("environment") or {}).items()
        if "PASSWORD" in key or key.endswith("_PWD") or key == "JOURNEYS_DATABASE_URL"
    ]
    assert secrets
    for name, key, value in secrets:  # never a password written into the file
        assert "${" in str(value), f"{name}: {key}"


def test_journeys_env_reaches_every_journeys_container(compose, project):
    """Compose gives `environment:` precedence over env files: a setting there could not be
    changed in journeys.env. So every setting but the stack's wiring comes from env files,
    journeys.env last: each one written there is what every Journeys container gets."""
    given = {variable: f"from journeys.env ({variable})" for variable in SETTINGS - WIRING}
    (project / "journeys.env").write_text("".join(f"{k}={v}\n" for k, v in given.items()))
    services = _services(compose)
    for name in JOURNEYS_SERVICES:
        environment = _environment_of(services[name], PASSWORDS, project)
        wiring = WIRING | (WORKER_WIRING if name == "worker" else set())
        lost = {k: environment[k] for k in given.keys() - wiring if environment[k] != given[k]}
        assert lost == {}, f"{name}: journeys.env can't change {sorted(lost)}"
        assert set(services[name].get("environment") or {}) == wiring, name
        url = environment["JOURNEYS_DATABASE_URL"]
        assert url == "postgresql+asyncpg://journeys:journeys-secret@postgresql:5432/journeys"


def test_under_journeys_env_the_defaults_run_the_stack(compose, project):
    """deploy/journeys-defaults.env, under journeys.env: the stack's own Temporal, JSON logs,
    SMTP with STARTTLS."""
    (project / "journeys.env").write_text(
        "JOURNEYS_SMTP_HOST=mailpit\nJOURNEYS_EMAIL_FROM=Rewards <rewards@example.com>\n"
    )
    environment = _environment_of(_services(compose)["worker"], PASSWORDS, project)
    expected = {
        "JOURNEYS_TEMPORAL_ADDRESS": "temporal:7233",
        "JOURNEYS_TEMPORAL_NAMESPACE": "journeys",
        "JOURNEYS_TASK_QUEUE": "journeys",
        "JOURNEYS_LOG_FORMAT": "json",
        "JOURNEYS_EMAIL_PROVIDER": "smtp",
        "JOURNEYS_SMTP_HOST": "mailpit",
        "JOURNEYS_SMTP_PORT": "587",
        "JOURNEYS_SMTP_SECURITY": "starttls",
        "JOURNEYS_EMAIL_FROM": "Rewards <rewards@example.com>",
        "JOURNEYS_METRICS_BIND": "0.0.0.0:9464",
    }
    assert {k: environment.get(k) for k in expected} == expected
    settings = Settings.model_validate(
        {k.removeprefix("JOURNEYS_").lower(): v for k, v in environment.items()}
    )
    assert settings.temporal_address == "temporal:7233"


def test_journeys_env_values_arrive_as_compose_reads_them(compose, project):
    """Compose substitutes variables in an env file's values (from the shell or .env, `$$` for
    one `$`) unless they are in single quotes, and ends an unquoted value at ` #`: a secret
    holding `$` or `#` arrives as written only in single quotes, as journeys.env.example and
    docs/operations.md say."""
    (project / "journeys.env").write_text(
        "JOURNEYS_SMTP_HOST=smtp.example.com  # the relay\n"
        'JOURNEYS_EMAIL_FROM="Rewards <rewards@example.com>"\n'
        "JOURNEYS_SMTP_PASSWORD='pa$$w0rd #1 $POSTGRES_PASSWORD \\' ok'\n"
        "JOURNEYS_SMTP_USERNAME=pa$$w0rd #1\n"
        "JOURNEYS_CONSOLE_SECRET=s3cr$POSTGRES_PASSWORD\n"
        'JOURNEYS_UNSUBSCRIBE_SECRET="a\\"b\\$c$${JOURNEYS_SMTP_HOST}"\n'
    )
    environment = _environment_of(_services(compose)["api"], PASSWORDS, project)
    assert {k: environment[k] for k in sorted(environment) if "SMTP" in k or "SECRET" in k} == {
        "JOURNEYS_SMTP_HOST": "smtp.example.com",
        "JOURNEYS_SMTP_PASSWORD": "pa$$w0rd #1 $POSTGRES_PASSWORD ' ok",  # as written
        "JOURNEYS_SMTP_USERNAME": "pa$w0rd",  # `$$` is one `$`, ` #` a comment
        "JOURNEYS_CONSOLE_SECRET": "s3crsuperuser-secret",  # the shell's variable
        "JOURNEYS_UNSUBSCRIBE_SECRET": 'a"b$c${JOURNEYS_SMTP_HOST}',
        "JOURNEYS_SMTP_PORT": "587",
        "JOURNEYS_SMTP_SECURITY": "starttls",
    }
    assert environment["JOURNEYS_EMAIL_FROM"] == "Rewards <rewards@example.com>"
    example = (ROOT / "deploy" / "journeys.env.example").read_text()
    assert "single quotes" in example and "JOURNEYS_SMTP_PASSWORD='" in example
    assert "single quotes" in (ROOT / "docs" / "operations.md").read_text()


def test_the_ui_opens_the_namespace_of_the_stacks_temporal(compose):
    """The UI reads no env file (journeys.env's secrets are none of its business): the
    namespace it opens is the compose variable named like the setting, by default the one
    deploy/journeys-defaults.env gives the Journeys containers; docs/operations.md says to set
    both when changing it."""
    ui = _services(compose)["temporal-ui"]
    assert "env_file" not in ui
    defaults = _dotenv((ROOT / "deploy" / "journeys-defaults.env").read_text())
    opened = _environment_of(ui, PASSWORDS)["TEMPORAL_DEFAULT_NAMESPACE"]
    assert opened == defaults["JOURNEYS_TEMPORAL_NAMESPACE"] == "journeys"
    shell = {**PASSWORDS, "JOURNEYS_TEMPORAL_NAMESPACE": "rewards"}
    assert _environment_of(ui, shell)["TEMPORAL_DEFAULT_NAMESPACE"] == "rewards"
    settings = (ROOT / "docs" / "operations.md").read_text().split("- **Settings**", 1)[1]
    assert "TEMPORAL_DEFAULT_NAMESPACE" in settings.split("\n- ", 1)[0]


def _docs_block(heading: str) -> str:
    """The first fenced block under `heading` in docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split(heading, 1)[1]
    match = re.search(r"```\w*\n(.*?)```", section, re.S)
    assert match, heading
    return match.group(1)


def _merged(*documents: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services of compose files given with -f, merged as compose merges them (mappings
    key by key, a later scalar wins, sequences such as `profiles` add up)."""

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            return {k: merge(base[k], v) if k in base else v for k, v in override.items()} | {
                k: v for k, v in base.items() if k not in override
            }
        if isinstance(base, list) and isinstance(override, list):
            return base + [item for item in override if item not in base]
        return override

    services: dict[str, dict[str, Any]] = {}
    for document in documents:
        services = merge(services, document["services"])
    return services


def _enabled(services: dict[str, dict[str, Any]], profiles: set[str]) -> set[str]:
    return {
        name
        for name, s in services.items()
        if not s.get("profiles") or profiles & set(s["profiles"])
    }


def test_temporal_cloud_as_the_docs_say(compose, project):
    """With deploy/temporal-cloud.yml the Temporal services don't start and nothing waits
    for them, and the journeys.env of docs/operations.md points every Journeys container at
    the cluster."""
    for profiles in (set(), {"demo"}):
        services = _merged(compose)
        assert _enabled(services, profiles) >= TEMPORAL_SERVICES
        services = _merged(compose, _load(CLOUD_FILE))
        enabled = _enabled(services, profiles)
        assert not TEMPORAL_SERVICES & enabled
        assert JOURNEYS_SERVICES | {"postgresql"} <= enabled
        for name in enabled:  # compose refuses a required dependency on a disabled service
            for dependency, spec in services[name].get("depends_on", {}).items():
                assert dependency in enabled or spec.get("required") is False, (name, dependency)
    journeys_env = _docs_block("### Temporal Cloud")
    assert "JOURNEYS_TEMPORAL_ADDRESS=" in journeys_env
    (project / "journeys.env").write_text(
        "JOURNEYS_SMTP_HOST=smtp.example.com\nJOURNEYS_EMAIL_FROM=r@example.com\n" + journeys_env
    )
    documented = _dotenv(journeys_env)
    mtls = _merged(compose, _load(CLOUD_FILE), _load(CLOUD_MTLS_FILE))
    for name in ("temporal-setup", "api", "worker"):
        environment = _environment_of(mtls[name], PASSWORDS, project)
        for key in ("JOURNEYS_TEMPORAL_ADDRESS", "JOURNEYS_TEMPORAL_NAMESPACE"):
            assert environment[key] == documented[key], (name, key)
        # The certificate files the docs name are where the mTLS override mounts them.
        mounted = {f"/run/secrets/{secret}" for secret in mtls[name]["secrets"]}
        for key in ("JOURNEYS_TEMPORAL_TLS_CERT_FILE", "JOURNEYS_TEMPORAL_TLS_KEY_FILE"):
            assert documented[key] in mounted, (name, key)


# --- Temporal -------------------------------------------------------------------------------


def test_the_temporal_server_reads_a_dynamic_config_file_of_the_stack(compose):
    """The server's built-in config names config/dynamicconfig/docker.yaml, which server
    images no longer ship from 1.30 on: the stack mounts its own file and names it. It
    mounts the file's directory: a file mounted alone stays the inode it was when the
    container started, so an edit saved as a new file (as many editors save) would never
    reach the server, which re-reads the file every minute."""
    temporal = _services(compose)["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert path.startswith("/") and not path.endswith("/docker.yaml")
    mounts = {}
    for volume in temporal["volumes"]:
        source, target, *options = volume.split(":")
        assert options == ["ro"], volume
        mounts[target] = source
    directory, _, name = path.rpartition("/")
    assert directory in mounts, f"no directory is mounted at {directory}"
    assert path not in mounts, "the file is mounted alone"
    source = ROOT / mounts[directory]
    assert source.is_dir()
    config = _load(source / name)
    assert config, "an empty dynamic config"
    for key, entries in config.items():  # the dynamic config's shape: key → [{value, …}]
        assert isinstance(entries, list) and all("value" in e for e in entries), key
    refresh = config.get("system.forceSearchAttributesCacheRefreshOnRead", [{"value": False}])
    assert refresh[0]["value"] is False  # a dev server's setting, not production's


def test_history_shards_are_chosen_for_production(compose):
    """The count can never change after the first start (the server keeps the stored one):
    not the image's default of 4."""
    shards = int(_services(compose)["temporal"]["environment"]["NUM_HISTORY_SHARDS"])
    assert shards == 512
    docs = (ROOT / "docs" / "operations.md").read_text()
    assert "NUM_HISTORY_SHARDS" in docs and "512" in docs


def test_the_schema_job_runs_the_schema_script(compose):
    job = _services(compose)["temporal-schema"]
    shell, script = job["entrypoint"]
    assert shell == "/bin/sh"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in job["volumes"]}
    assert (ROOT / mounts[script]).resolve() == SCHEMA_SCRIPT
    assert job["environment"]["SQL_USER"] == "temporal"


def _shells() -> list[list[str]]:
    """The POSIX shells at hand: dash (Debian's sh), and busybox's ash (the admin-tools
    image's /bin/sh) when busybox is installed."""
    shells = [[path] for path in (shutil.which("dash"),) if path]
    if busybox := shutil.which("busybox"):
        shells.append([busybox, "sh"])
    return shells or [["sh"]]


_STUB_TOOL = """#!/bin/sh
# temporal-sql-tool, recording each call; fails those on database $STUB_FAIL_DB whose
# arguments contain $STUB_FAIL_STEP (every one of them if it is empty).
echo "$SQL_USER $*" >> "$STUB_LOG"
case " $* " in
  *" --db $STUB_FAIL_DB "*"$STUB_FAIL_STEP"*)
    echo '{"level":"error","msg":"Unable to update SQL schema.","error":"pq: failed"}' >&2
    exit 1 ;;
esac
"""
_STUB_NC = """#!/bin/sh
# nc -z: refuses the first $STUB_NC_REFUSALS calls.
count=$(($(cat "$STUB_NC_COUNT" 2>/dev/null || echo 0) + 1))
echo "$count" > "$STUB_NC_COUNT"
[ "$count" -gt "$STUB_NC_REFUSALS" ]
"""


def _run_schema_job(
    compose: dict[str, Any],
    tmp_path: Path,
    shell: list[str],
    fail: tuple[str, str] = ("", "-"),
    refusals: int = 0,
    variables: Mapping[str, str] = PASSWORDS,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The schema job's script under `shell`, with the job's environment (interpolated from
    `variables`), against stubs of temporal-sql-tool, nc and sleep; returns the result and
    the tool's calls."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for name, text in (
        ("temporal-sql-tool", _STUB_TOOL),
        ("nc", _STUB_NC),
        ("sleep", "#!/bin/sh\n"),
    ):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    (tmp_path / "nc.count").unlink(missing_ok=True)
    job = _services(compose)["temporal-schema"]
    environment = {k: _interpolate(str(v), variables) for k, v in job["environment"].items()}
    env = {
        **environment,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_FAIL_DB": fail[0],
        "STUB_FAIL_STEP": fail[1],
        "STUB_NC_COUNT": str(tmp_path / "nc.count"),
        "STUB_NC_REFUSALS": str(refusals),
    }
    done = subprocess.run(
        [*shell, str(SCHEMA_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


@pytest.mark.parametrize("shell", _shells(), ids=lambda shell: Path(shell[0]).name)
def test_the_schema_job_sets_up_both_databases_as_the_temporal_role(compose, tmp_path, shell):
    done, calls = _run_schema_job(compose, tmp_path, shell, refusals=2)
    assert done.returncode == 0, done.stderr
    assert calls == [
        "temporal --db temporal setup-schema -v 0.0",
        "temporal --db temporal update-schema --schema-name postgresql/v12/temporal",
        "temporal --db temporal_visibility setup-schema -v 0.0",
        "temporal --db temporal_visibility update-schema --schema-name postgresql/v12/visibility",
    ]


@pytest.mark.parametrize("shell", _shells(), ids=lambda shell: Path(shell[0]).name)
@pytest.mark.parametrize(
    "fail",
    [
        ("temporal", ""),
        ("temporal", "setup-schema"),
        ("temporal", "update-schema"),
        ("temporal_visibility", ""),
        ("temporal_visibility", "setup-schema"),
        ("temporal_visibility", "update-schema"),
    ],
    ids=lambda fail: f"{fail[0]}-{fail[1] or 'every-step'}",
)
def test_the_schema_job_fails_when_any_database_fails(compose, tmp_path, shell, fail):
    """One database failing while the other succeeds must fail the job, or Temporal starts
    on a half-made schema and restarts in a loop. (The job's first script, with its
    `create || echo exists` and `update || { setup && update; }`, exited 0 under dash and
    busybox when every step on `temporal` failed.)"""
    done, calls = _run_schema_job(compose, tmp_path, shell, fail=fail)
    assert done.returncode != 0, (calls, done.stdout)
    assert calls[-1].startswith(f"temporal --db {fail[0]} {fail[1]}")  # nothing after it


@pytest.mark.parametrize("shell", _shells(), ids=lambda shell: Path(shell[0]).name)
def test_without_temporals_password_only_the_stacks_own_temporal_stops(compose, tmp_path, shell):
    """Without POSTGRES_TEMPORAL_PASSWORD compose starts (it can't require a variable for
    some files only: it interpolates every service, disabled or not), PostgreSQL gets an empty
    one (roles.sql then makes no temporal role), and, with the stack's own Temporal, the schema
    job stops before it does anything, naming the variable; Temporal waits for that job."""
    for document in (compose, _load(CLOUD_FILE), _load(CLOUD_MTLS_FILE)):
        _interpolate_all(document, WITHOUT_TEMPORAL)  # nothing refused
    postgresql = _services(_interpolate_all(compose, WITHOUT_TEMPORAL))["postgresql"]
    assert postgresql["environment"]["POSTGRES_TEMPORAL_PASSWORD"] == ""
    done, calls = _run_schema_job(compose, tmp_path, shell, variables=WITHOUT_TEMPORAL)
    assert done.returncode != 0
    assert calls == []
    assert "POSTGRES_TEMPORAL_PASSWORD is not set" in done.stderr
    assert "deploy/temporal-cloud.yml" in done.stderr  # and the way out for Temporal Cloud
    temporal = _services(compose)["temporal"]
    assert temporal["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )


@pytest.mark.parametrize("shell", _shells(), ids=lambda shell: Path(shell[0]).name)
def test_the_schema_job_fails_when_postgresql_never_answers(compose, tmp_path, shell):
    done, calls = _run_schema_job(compose, tmp_path, shell, refusals=1_000)
    assert done.returncode != 0
    assert calls == []
    assert "postgresql:5432" in done.stderr


# --- PostgreSQL's roles ---------------------------------------------------------------------


def _interpolated(service: dict[str, Any]) -> dict[str, str]:
    return {k: _interpolate(str(v), PASSWORDS) for k, v in service["environment"].items()}


def test_the_application_and_temporal_have_roles_and_passwords_of_their_own(compose, project):
    """Three passwords: PostgreSQL's superuser (for roles.sql and people), the application's
    role and Temporal's role; each connects with its own."""
    services = _services(compose)
    postgresql = services["postgresql"]
    assert postgresql["environment"]["POSTGRES_USER"] not in ("journeys", "temporal")
    mount = "./deploy/postgres/roles.sql:/docker-entrypoint-initdb.d/10-roles.sql:ro"
    assert mount in postgresql["volumes"]
    assert _interpolated(postgresql) == {"POSTGRES_USER": "postgres", **PASSWORDS}
    temporal = _interpolated(services["temporal"])
    assert (temporal["POSTGRES_USER"], temporal["POSTGRES_PWD"]) == ("temporal", "temporal-secret")
    assert (temporal["DBNAME"], temporal["VISIBILITY_DBNAME"]) == (
        "temporal",
        "temporal_visibility",
    )
    schema = _interpolated(services["temporal-schema"])
    assert (schema["SQL_USER"], schema["SQL_PASSWORD"]) == ("temporal", "temporal-secret")
    (project / "journeys.env").write_text("")
    for name in JOURNEYS_SERVICES:
        url = make_url(_environment_of(services[name], PASSWORDS, project)["JOURNEYS_DATABASE_URL"])
        assert (url.username, url.password, url.database) == (
            "journeys",
            "journeys-secret",
            "journeys",
        )


def test_the_docs_change_a_password_where_the_script_can_read_it(compose):
    """roles.sql reads the passwords from the postgres container's environment, fixed when
    the container was made: run in the running one after a password changed, it would set
    the old one again. The documented procedure recreates `postgresql` (or hands `exec` the
    new values) before it runs the script, runs it where compose mounts it, and recreates the
    rest after."""
    lines = [
        line.split(" #", 1)[0].strip()
        for line in _docs_block("### Database roles").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    (script,) = [i for i, line in enumerate(lines) if "roles.sql" in line]
    (mount,) = [v for v in _services(compose)["postgresql"]["volumes"] if "roles.sql" in v]
    target = mount.split(":")[1]
    assert f"-f {target}" in lines[script] and "-U postgres" in lines[script]
    recreated = [
        i
        for i, line in enumerate(lines[:script])
        if re.fullmatch(r"docker compose up -d( --force-recreate)? postgresql", line)
    ]
    handed = all(f"-e {name}" in lines[script] for name in PASSWORDS if name != "POSTGRES_PASSWORD")
    assert recreated or handed, lines
    assert any(
        re.fullmatch(r"docker compose up -d --force-recreate", line) for line in lines[script:]
    ), lines


def _postgres_reachable() -> bool:
    if not shutil.which("pg_isready"):
        return False
    local = make_url(POSTGRES_URL)
    host, port = local.host or "127.0.0.1", str(local.port or 5432)
    return (
        subprocess.run(["pg_isready", "-h", host, "-p", port], capture_output=True).returncode == 0
    )


@pytest.fixture
def postgres_admin() -> dict[str, str]:
    """libpq's environment for the suite's PostgreSQL, as its superuser."""
    if not shutil.which("psql") or not _postgres_reachable():
        if REQUIRE_POSTGRES:
            raise RuntimeError(f"PostgreSQL at {POSTGRES_URL} and psql are required")
        pytest.skip("no PostgreSQL (or no psql) here")
    local = make_url(POSTGRES_URL)
    return {
        **os.environ,
        "PGHOST": local.host or "127.0.0.1",
        "PGPORT": str(local.port or 5432),
        "PGUSER": local.username or "postgres",
        "PGPASSWORD": local.password or "",
        "PGDATABASE": "postgres",
    }


def _verifies(verifier: str, password: str, role: str) -> bool:
    """Whether a role's stored password (pg_authid.rolpassword: SCRAM-SHA-256 or md5) is
    `password`: the suite's PostgreSQL may trust every connection, so logging in proves
    nothing about the password."""
    if verifier.startswith("md5"):
        return verifier == "md5" + hashlib.md5((password + role).encode()).hexdigest()
    method, rest = verifier.split("$", 1)
    assert method == "SCRAM-SHA-256", verifier
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(key) for key in keys.split(":"))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return hashlib.sha256(client_key).digest() == stored_key and (
        hmac.digest(salted, b"Server Key", "sha256") == server_key
    )


def test_the_roles_script_gives_each_its_databases_and_nothing_more(postgres_admin, tmp_path):
    """roles.sql as the postgres image runs it (psql, as the superuser), under throwaway
    names on the suite's PostgreSQL: two roles without any superpower, each with its own
    password, owning its databases, closed to the other, and neither may connect to the
    cluster's own databases (throwaway ones here: the script takes their names too); run
    again, it changes nothing; the application's migrations run as its role, and Temporal's
    role may add the extension its visibility schema needs."""
    prefix = f"jt{uuid.uuid4().hex[:8]}"
    names = {
        "journeys_role": f"{prefix}_journeys",
        "journeys_db": f"{prefix}_journeys",
        "temporal_role": f"{prefix}_temporal",
        "temporal_db": f"{prefix}_temporal",
        "temporal_visibility_db": f"{prefix}_temporal_visibility",
        "maintenance_db": f"{prefix}_postgres",
        "template_db": f"{prefix}_template1",
    }
    variables = [arg for k, v in names.items() for arg in ("-v", f"{k}={v}")]
    env = {**postgres_admin, **{k: v for k, v in PASSWORDS.items() if k != "POSTGRES_PASSWORD"}}
    journeys_role, temporal_role = names["journeys_role"], names["temporal_role"]
    password_of = {
        journeys_role: PASSWORDS["POSTGRES_JOURNEYS_PASSWORD"],
        temporal_role: PASSWORDS["POSTGRES_TEMPORAL_PASSWORD"],
    }

    def psql(*args: str, user: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        # A role connects with its own password, as the stack's services do.
        as_role = {"PGUSER": user, "PGPASSWORD": password_of[user]} if user else {}
        return subprocess.run(
            ["psql", "-X", "-q", "-At", *args],
            env={**env, **extra, **as_role},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def query(sql: str) -> list[str]:
        done = psql("-c", sql)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    def roles() -> list[str]:
        return query(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            f"rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname LIKE '{prefix}%' "
            "ORDER BY rolname"
        )

    def databases() -> list[str]:
        return sorted(
            query(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                f"WHERE datname LIKE '{prefix}%'"
            )
        )

    try:
        for key in ("maintenance_db", "template_db"):  # as a new cluster has them
            query(f'CREATE DATABASE "{names[key]}"')
        # With Temporal Cloud (no POSTGRES_TEMPORAL_PASSWORD): the application's role alone.
        done = psql(*variables, "-f", str(ROLES_SQL), POSTGRES_TEMPORAL_PASSWORD="")
        assert done.returncode == 0, done.stderr
        assert "no temporal role" in done.stderr
        assert roles() == [f"{journeys_role}|f|f|f|f|f|t"]
        assert [d.split("|")[0] for d in databases()] == sorted(
            [names["journeys_db"], names["maintenance_db"], names["template_db"]]
        )
        # With the stack's own Temporal; then again, changing nothing.
        for _ in range(2):
            done = psql(*variables, "-f", str(ROLES_SQL))
            assert done.returncode == 0, done.stderr
            assert roles() == [
                f"{journeys_role}|f|f|f|f|f|t",
                f"{temporal_role}|f|f|f|f|f|t",
            ]
        assert databases() == sorted(
            [
                f"{names['journeys_db']}|{journeys_role}",
                f"{names['maintenance_db']}|{postgres_admin['PGUSER']}",
                f"{names['temporal_db']}|{temporal_role}",
                f"{names['temporal_visibility_db']}|{temporal_role}",
                f"{names['template_db']}|{postgres_admin['PGUSER']}",
            ]
        )
        stored = query(
            f"SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE '{prefix}%' "
            "ORDER BY rolname"
        )
        for line in stored:
            role, verifier = line.split("|")
            assert _verifies(verifier, password_of[role], role), role
            assert not _verifies(verifier, PASSWORDS["POSTGRES_PASSWORD"], role), role
        for role, database, allowed in [
            (journeys_role, names["journeys_db"], True),
            (journeys_role, names["temporal_db"], False),
            (journeys_role, names["temporal_visibility_db"], False),
            (journeys_role, names["maintenance_db"], False),
            (journeys_role, names["template_db"], False),
            (temporal_role, names["temporal_db"], True),
            (temporal_role, names["temporal_visibility_db"], True),
            (temporal_role, names["journeys_db"], False),
            (temporal_role, names["maintenance_db"], False),
            (temporal_role, names["template_db"], False),
        ]:
            done = psql("-d", database, "-c", "CREATE TABLE t (i int)", user=role)
            assert (done.returncode == 0) == allowed, (role, database, done.stderr)
            if not allowed:
                assert "CONNECT privilege" in done.stderr
        # Nor temporary tables in the cluster's own database (PUBLIC's TEMPORARY is gone too).
        (acl,) = query(
            f"SELECT datacl FROM pg_database WHERE datname = '{names['maintenance_db']}'"
        )
        assert not [grant for grant in acl.strip("{}").split(",") if grant.startswith("=")], acl
        # The health check's pg_isready needs no privilege on the database it names.
        ready = subprocess.run(
            ["pg_isready", "-d", names["maintenance_db"], "-U", journeys_role],
            env=env,
            capture_output=True,
            timeout=30,
        )
        assert ready.returncode == 0, ready
        # Temporal's visibility schema starts with CREATE EXTENSION IF NOT EXISTS btree_gin.
        extension = "CREATE EXTENSION IF NOT EXISTS btree_gin"
        done = psql("-d", names["temporal_visibility_db"], "-c", extension, user=temporal_role)
        assert done.returncode == 0, done.stderr
        as_journeys = make_url(POSTGRES_URL).set(
            drivername="postgresql+asyncpg",
            username=journeys_role,
            password=password_of[journeys_role],
            database=names["journeys_db"],
        )
        migrated = subprocess.run(
            [*JOURNEYS, "migrate"],
            env={**os.environ, "JOURNEYS_DATABASE_URL": as_journeys.render_as_string(False)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert migrated.returncode == 0, migrated.stderr
        # Without the application's password it stops, having changed nothing.
        without = {**env}
        del without["POSTGRES_JOURNEYS_PASSWORD"]
        done = subprocess.run(
            ["psql", "-X", "-q", *variables, "-f", str(ROLES_SQL)],
            env=without,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0 and "POSTGRES_JOURNEYS_PASSWORD is not set" in done.stderr
    finally:
        for key in (
            "journeys_db",
            "temporal_db",
            "temporal_visibility_db",
            "maintenance_db",
            "template_db",
        ):
            psql("-c", f'DROP DATABASE IF EXISTS "{names[key]}" WITH (FORCE)')
        for key in ("journeys_role", "temporal_role"):
            psql("-c", f'DROP ROLE IF EXISTS "{names[key]}"')
        assert query(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%'") == []
        assert query(f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'") == []


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
    # What a working checkout holds besides the project (virtualenvs, build output, `journeys
    # dev`'s data, benchmarks' profiles), left out of the copy to keep it quick.
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache")
    top = {".git", ".venv", ".ci-venv", ".journeys", "bench-profiles", "build", "dist"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(junk(directory, names))
        if Path(directory) == ROOT:
            ignored |= {name for name in names if name in top or name.endswith(".egg-info")}
        return ignored

    shutil.copytree(ROOT, source, ignore=ignore, dirs_exist_ok=True)
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
    context is copied in a build stage only, and the image installs that stage's wheel from
    a bind mount, so not even the wheel is in a layer of it."""
    *builds, image = _stages()
    assert builds, "no build stage"
    assert not [i for i in image if i.startswith(("COPY ", "ADD "))], "the image copies files in"
    assert any(i.startswith("COPY . ") for stage in builds for i in stage)
    wheel_stage = builds[-1][0].split()[-1]
    (install,) = [i for i in image if "pip install /wheel/" in i]
    mount = re.search(r"--mount=(\S+)", install)
    assert mount, install
    options = dict(option.split("=", 1) for option in mount[1].split(","))
    assert options == {
        "type": "bind",
        "from": wheel_stage,
        "source": "/wheel",
        "target": "/wheel",
    }, install


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
