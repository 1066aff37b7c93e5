"""Signing in and out of the console."""

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.auth import PREFIX, CheckedForm, CurrentOperator, form, secret
from api.console.pages import render
from journeys.errors import Unauthorized
from services import console_auth
from services.console_auth import SESSION_COOKIE, SIGN_IN_COOKIE

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _cookie(request: Request, response: Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        # Over https (directly, behind a proxy that says so, or where the public URL is) the
        # cookie never goes over plain http; `journeys dev` serves http on loopback.
        secure=request.url.scheme == "https"
        or (request.app.state.settings.public_url or "").startswith("https://"),
    )


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/journeys", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request) -> HTMLResponse:
    key = secret(request.app.state.settings)
    nonce = secrets.token_urlsafe(16)
    page = render(request, "sign_in.html", csrf=console_auth.csrf_token(key, nonce))
    _cookie(request, page, SIGN_IN_COOKIE, nonce, 3600)
    return page


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    state = request.app.state
    key = secret(state.settings)
    fields = await form(request)
    nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    if not nonce or not console_auth.csrf_ok(key, nonce, fields.get("csrf")):
        return await _again(request, "The sign-in form expired; sign in again.")
    try:
        manager, digest = await console_auth.sign_in(state.sessions, fields.get("api_key", ""))
    except Unauthorized as error:
        return await _again(request, error.message)
    token = console_auth.issue(key, manager, digest, state.settings.console_session_hours)
    done = RedirectResponse(f"{PREFIX}/journeys", status_code=303)
    _cookie(request, done, SESSION_COOKIE, token, state.settings.console_session_hours * 3600)
    done.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return done


async def _again(request: Request, problem: str) -> HTMLResponse:
    key = secret(request.app.state.settings)
    nonce = secrets.token_urlsafe(16)
    page = render(
        request,
        "sign_in.html",
        status=401,
        csrf=console_auth.csrf_token(key, nonce),
        problem=problem,
    )
    _cookie(request, page, SIGN_IN_COOKIE, nonce, 3600)
    return page


@router.post("/sign-out")
async def sign_out(operator: CurrentOperator, fields: CheckedForm) -> RedirectResponse:
    done = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    done.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return done
