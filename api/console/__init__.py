"""The operator console at `/console`: server-rendered pages (Jinja2) for a place's
journeys, with vendored static assets (no CDN, no Node toolchain). Not part of the API's
contract: its routes are left out of `/openapi.json`."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import activity, changes, journeys, signing, trying
from api.console.auth import PREFIX, ConsoleClosed, SignInFirst
from api.console.pages import error_page

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(signing.router)
    app.include_router(journeys.router)
    app.include_router(activity.router)
    app.include_router(changes.router)
    app.include_router(trying.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(SignInFirst)
    async def _sign_in_first(request: Request, _: SignInFirst) -> Response:
        if request.headers.get("hx-request"):
            # A live part polling after the session ended: the whole page goes to sign-in,
            # instead of the sign-in form being swapped into the part.
            return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/sign-in"})
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)

    @app.exception_handler(ConsoleClosed)
    async def _closed(request: Request, _: ConsoleClosed) -> HTMLResponse:
        return error_page(
            request,
            503,
            "The console is closed: set JOURNEYS_CONSOLE_SECRET (a long random string) on the "
            "API to open it.",
        )
