"""`/docs` and `/redoc` render in a real browser (headless Chromium) that can reach nothing
but loopback: their scripts and styles come from the app. Screenshots are kept in the test's
directory (printed with `-s`).

Chromium is Debian's `chromium` package; without it these tests are skipped, except in CI
(`JOURNEYS_TEST_REQUIRE_BROWSER=1`), which installs it."""

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from journeys.settings import Settings
from tests.servers import LOOPBACK

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("JOURNEYS_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The app over HTTP on loopback. The pages need neither the database nor Temporal, so
    it runs without its lifespan."""
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail("chromium is required (JOURNEYS_TEST_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    app = create_app(Settings())
    listening = socket.socket()
    listening.bind((LOOPBACK, 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
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
