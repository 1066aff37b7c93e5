"""`/docs`, `/redoc` and the unsubscribe pages render in a real browser (headless Chromium)
that can reach nothing but loopback: their scripts and styles come from the app. Screenshots
are kept in the test's directory (printed with `-s`).

Chromium is Debian's `chromium` package; without it these tests are skipped, except in CI
(`JOURNEYS_TEST_REQUIRE_BROWSER=1`), which installs it."""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import uvicorn

from api.app import create_app
from journeys import unsubscribe
from journeys.settings import Settings
from store import customers, places
from store.db import create_engine, session_factory
from tests.servers import LOOPBACK

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("JOURNEYS_TEST_REQUIRE_BROWSER") == "1"


def _needs_chromium() -> None:
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail("chromium is required (JOURNEYS_TEST_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The app over HTTP on loopback. The pages need neither the database nor Temporal, so
    it runs without its lifespan."""
    _needs_chromium()
    with serving(create_app(Settings()), lifespan="off") as url:
        yield url


@contextlib.contextmanager
def serving(app: Any, lifespan: Literal["on", "off"]) -> Iterator[str]:
    """`app` over HTTP on loopback, for as long as the block runs."""
    listening = socket.socket()
    listening.bind((LOOPBACK, 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_level="warning"))
    thread = threading.Thread(target=server.run, args=([listening],), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.02)
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()


def browse(url: str, *options: str) -> str:
    """Chromium's output for `url`, given only loopback: every other host fails to resolve."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
        "--window-size=1280,1800",
        "--virtual-time-budget=20000",
        *options,
        url,
    ]
    done = subprocess.run(command, capture_output=True, timeout=120, check=True)
    return done.stdout.decode(errors="replace")


@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        # Swagger UI: its operations, and the Authorize button of the Api-Key scheme.
        ("/docs", ['class="swagger-ui"', "opblock", "/places/{place_id}/journeys", "authorize"]),
        # ReDoc: its menu and an operation's summary.
        ("/redoc", ["redoc-wrap", "Create Journey", "Receive Events"]),
    ],
)
async def test_the_docs_pages_render_offline(served, tmp_path: Path, page, rendered):
    dom = await asyncio.to_thread(browse, served + page, "--dump-dom")
    for sign in rendered:
        assert sign in dom, f"{page} did not render {sign!r}:\n{dom[:2000]}"
    shot = tmp_path / f"{page.strip('/')}.png"
    await asyncio.to_thread(browse, served + page, f"--screenshot={shot}")
    # A blank page is a few kilobytes; a rendered one is far more.
    assert shot.stat().st_size > 40_000, shot.stat().st_size
    print(f"screenshot of {page}: {shot}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_unsubscribe_pages_render(database_url, tmp_path: Path):
    """The page a customer sees when they follow the link in an email (a form to confirm),
    and the one a forged link gets."""
    _needs_chromium()
    settings = Settings(
        database_url=database_url,
        temporal_address="127.0.0.1:1",  # never reached: the pages don't need Temporal
        public_url="http://journeys.test",
        unsubscribe_secret="browser-secret",
    )
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        await places.ensure_place(session, 42)
        await customers.upsert(session, 42, 7, {"email": "ana@example.com"})
        await session.commit()
    await engine.dispose()
    token = unsubscribe.token(settings, 42, 7, "email")
    with serving(create_app(settings), lifespan="on") as url:
        pages = {
            "confirm": (
                f"{url}/unsubscribe/{token}",
                ["<form", "Unsubscribe?", "marketing emails"],
            ),
            "forged": (f"{url}/unsubscribe/{token[:-2]}AA", ["Link not valid"]),
        }
        for name, (page, rendered) in pages.items():
            dom = await asyncio.to_thread(browse, page, "--dump-dom")
            for sign in rendered:
                assert sign in dom, f"{name} did not render {sign!r}:\n{dom[:2000]}"
            shot = tmp_path / f"unsubscribe-{name}.png"
            await asyncio.to_thread(browse, page, f"--screenshot={shot}")
            assert shot.stat().st_size > 5_000, shot.stat().st_size
            print(f"screenshot of the {name} unsubscribe page: {shot}")
