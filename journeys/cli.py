"""The `journeys` command: dev, api, worker, migrate, temporal-setup, keys, run."""

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from journeys.settings import DATABASE_FILE, DEFAULT_DATA_DIR, database_url, get_settings

T = TypeVar("T")
# Seconds an idle HTTP connection is kept open (see `api`).
KEEP_ALIVE_SECONDS = 75
app = typer.Typer(
    help="Journeys: durable customer journeys for loyalty platforms, run on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys = typer.Typer(help="Manage manager API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")

Host = Annotated[str, typer.Option(help="Address the API listens on.")]
DataDir = Annotated[
    Path,
    typer.Option(
        help="Where `journeys dev` keeps the SQLite database (unless JOURNEYS_DATABASE_URL "
        "is set), Temporal's state and logs."
    ),
]
Port = Annotated[int, typer.Option(help="Port of the API.", min=1, max=65535)]


@app.command()
def dev(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    temporal_port: Annotated[
        int, typer.Option(help="gRPC port of the Temporal dev server.", min=1, max=65535)
    ] = 7233,
    ui_port: Annotated[int, typer.Option(help="Port of the Temporal UI.", min=1, max=65535)] = 8233,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    api_key: Annotated[
        str | None, typer.Option(help="Use this manager key for place 42 instead of a random one.")
    ] = None,
) -> None:
    """Run everything locally: Temporal (with UI), migrations, the demo place 42, the worker
    and the API."""
    from journeys import devstack

    options = devstack.DevOptions(host, port, temporal_port, ui_port, data_dir, api_key)
    try:
        devstack.run(options, typer.echo)
    except devstack.DevError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command()
def api(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the REST API (configured by JOURNEYS_* variables)."""
    import uvicorn

    from api.app import create_app
    from journeys import heap, logs

    settings = get_settings()
    logs.configure(settings)
    served = create_app(settings)
    heap.settle()
    # log_config=None: uvicorn's loggers go through the handler `logs` set up.
    # Idle connections are kept longer than a client's or a load balancer's (60 s is the
    # common default): the side that closes an idle connection should be the client, or a
    # request sent as the server closes it fails (seen as dropped requests under load).
    uvicorn.run(
        served,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


@app.command()
def worker() -> None:
    """Run a Temporal worker for journey executions (configured by JOURNEYS_* variables)."""
    import worker as journeys_worker
    from activities.channels import ChannelConfigError
    from journeys import logs

    logs.configure(get_settings())
    try:
        asyncio.run(journeys_worker.run())
    except ChannelConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Bring the database (JOURNEYS_DATABASE_URL, or the SQLite file in --data-dir, created
    if missing) to the latest schema."""
    from store.migrate import upgrade

    url = database_url(data_dir)
    if "JOURNEYS_DATABASE_URL" not in os.environ:
        data_dir.mkdir(parents=True, exist_ok=True)
    _on_database(url, lambda: upgrade(url))
    typer.echo(f"database {_shown(url)} is up to date", err=True)


@app.command("temporal-setup")
def temporal_setup() -> None:
    """Prepare the Temporal namespace (JOURNEYS_TEMPORAL_*): register it if missing, keep
    closed executions 90 days, add the search attributes. Idempotent; waits for Temporal."""
    import logging
    import time

    from orchestration import temporal_client
    from orchestration import temporal_setup as setup

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()

    async def prepare() -> list[str]:
        deadline = time.monotonic() + 120
        while True:
            try:
                client = await temporal_client.connect(settings)
                break
            except RuntimeError as error:  # not reachable (yet): the cluster may be starting
                if time.monotonic() > deadline:
                    raise
                logging.info("Temporal is not reachable yet (%s); trying again", error)
                await asyncio.sleep(2)
        return await setup.prepare(client)

    async def main() -> None:
        code = 0
        try:
            for change in await prepare():
                typer.echo(change, err=True)
            typer.echo(f"namespace {settings.temporal_namespace} is ready", err=True)
        except Exception as error:  # told to the operator, not as a traceback
            typer.echo(f"error: Temporal at {settings.temporal_address}: {error}", err=True)
            code = 1
        # Leave from inside the loop, before anything is torn down: the Temporal client's
        # native threads can crash a short-lived process while its loop closes or the
        # interpreter finalizes (temporalio/sdk-python#300; seen here as SIGABRT and SIGSEGV).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    asyncio.run(main())


@app.command("run")
def run_journey(
    journey: Annotated[int, typer.Argument(help="The manual journey to run.", min=1)],
    place: Annotated[int, typer.Option(help="The journey's place.", min=1)] = 42,
    include: Annotated[
        list[int] | None,
        typer.Option(help="Target customers in this segment (repeat for more); all if none."),
    ] = None,
    exclude: Annotated[
        list[int] | None,
        typer.Option(help="Leave out customers in this segment (repeat for more)."),
    ] = None,
    api_url: Annotated[
        str, typer.Option(envvar="JOURNEYS_API_URL", help="Where the Journeys API is.")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str, typer.Option(envvar="JOURNEYS_API_KEY", help="A manager key for the place.")
    ] = "",
    wait: Annotated[
        bool, typer.Option(help="Show progress until every execution is started.")
    ] = True,
) -> None:
    """Run a manual journey for segments and show a progress bar until every execution is
    started. Prints the run id on stdout."""
    import httpx

    from journeys.run_command import RunClient, RunCommand, RunError

    if not api_key:
        typer.echo("error: an API key is needed: --api-key or JOURNEYS_API_KEY", err=True)
        raise typer.Exit(2)
    request = RunCommand(api_url, api_key, place, journey, include or [], exclude or [])
    with httpx.Client(headers={"Api-Key": api_key}, timeout=30) as http:
        client = RunClient(request, http)
        try:
            triggered = client.trigger()
            run_id, targeted = triggered["runId"], triggered["triggered"]
            typer.echo(f"run {run_id}: {_customers(targeted)} targeted", err=True)
            if wait:
                with typer.progressbar(
                    length=targeted, label="starting executions", file=sys.stderr
                ) as bar:
                    shown = 0

                    def progress(started: int) -> None:
                        nonlocal shown
                        bar.update(started - shown)
                        shown = started

                    run = client.follow(run_id, progress)
                started = run["started"]
                typer.echo(
                    f"{_executions(started)} started. This follows starts only: each "
                    "execution now runs its steps, and its messages go out as it reaches "
                    f"them; see GET /places/{place}/messages?journey_id={journey}",
                    err=True,
                )
        except RunError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
    typer.echo(run_id)


def _customers(count: int) -> str:
    return "1 customer" if count == 1 else f"{count} customers"


def _executions(count: int) -> str:
    return "the 1 execution" if count == 1 else f"all {count} executions"


@keys.command("create")
def create_key(
    place: Annotated[int, typer.Option(help="The place the key manages.", min=1)],
    user_id: Annotated[int, typer.Option(help="The user the key acts as.", min=1)] = 1,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Print a new manager API key for PLACE (creating the place if missing), in the database
    `journeys dev --data-dir` uses (JOURNEYS_DATABASE_URL, if set, wins)."""
    from store.db import transaction
    from store.places import add_key

    url = existing_database(data_dir)

    async def create() -> str:
        async with transaction(url) as session:
            return await add_key(session, place, user_id)

    typer.echo(_on_database(url, lambda: asyncio.run(create())))


def existing_database(data_dir: Path) -> str:
    """The database a command that uses an existing one works on: JOURNEYS_DATABASE_URL, or
    the SQLite file of `journeys dev --data-dir`, which must exist (never an empty new one)."""
    url = database_url(data_dir)
    if "JOURNEYS_DATABASE_URL" not in os.environ and not (data_dir / DATABASE_FILE).exists():
        typer.echo(
            f"error: no Journeys database in {data_dir.resolve()}: start `journeys dev` there "
            "first, pass --data-dir DIR (where `journeys dev --data-dir DIR` keeps it), or set "
            "JOURNEYS_DATABASE_URL",
            err=True,
        )
        raise typer.Exit(2)
    return url


def _on_database(url: str, work: Callable[[], T]) -> T:
    """`work()` on the database at `url`; its failures said plainly, without a traceback."""
    from sqlalchemy.exc import DBAPIError

    try:
        return work()
    except DBAPIError as error:
        _database_error(url, error)
    except OSError as error:
        typer.echo(f"error: cannot reach the database at {_shown(url)}: {error}", err=True)
        raise typer.Exit(1) from None


def _database_error(url: str, error: Exception) -> NoReturn:
    cause = getattr(error, "orig", None) or error
    text = str(cause)
    if "no such table" in text or getattr(cause, "sqlstate", None) == "42P01":
        typer.echo(
            f"error: the database at {_shown(url)} has no tables yet: run `journeys migrate` "
            "(or `journeys dev`) first",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(f"error: the database at {_shown(url)} failed: {text.splitlines()[0]}", err=True)
    raise typer.Exit(1)


def _shown(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
