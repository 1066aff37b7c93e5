"""The public unsubscribe endpoint of marketing emails (RFC 8058 one-click): no Api-Key, the
signed token is the authority. GET shows a confirmation page (link scanners only GET, so
they unsubscribe no one); POST, what mail clients send, unsubscribes at once."""

import html
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import AppSettings, Session
from api.errors import domain_response
from api.problems import error_response
from journeys.errors import NotFound
from journeys.unsubscribe import PATH, BadToken
from services import consent

router = APIRouter(prefix=PATH, tags=["consent"])
# No length limit here: an overlong token is a malformed link, answered with its page.
Token = Annotated[str, Path(description="The signed token of the link.")]
CHANNEL_NAMES = {
    "email": "marketing emails",
    "sms": "marketing text messages",
    "push": "marketing notifications",
}


def _page(title: str, text: str, status: int = 200, form: bool = False) -> HTMLResponse:
    button = '<form method="post"><button type="submit">Unsubscribe</button></form>' if form else ""
    return HTMLResponse(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
        "padding:0 1rem;color:#222}button{font:inherit;padding:.5rem 1.25rem;border:0;"
        "border-radius:.375rem;background:#1f5fbf;color:#fff;cursor:pointer}</style>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{button}</html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _refused(request: Request, error: BadToken | NotFound) -> Response:
    """A page for a person (a browser asks for HTML), else the API's error body."""
    if "text/html" not in request.headers.get("accept", ""):
        if isinstance(error, NotFound):
            return domain_response(error)
        return error_response(400, "invalid_link", f"{error}.", [("token", str(error))])
    if isinstance(error, BadToken):
        return _page("Link not valid", f"{error}. Please use the link from your latest email.", 400)
    return _page("Not found", str(error), 404)


# A browser gets pages; any other client the error body every endpoint answers with.
PAGES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The link is malformed or forged.", "content": {"text/html": {}}},
    404: {"description": "The link's customer no longer exists.", "content": {"text/html": {}}},
}


@router.get("/{token}", response_class=HTMLResponse, responses=PAGES)
async def confirm(
    request: Request, session: Session, settings: AppSettings, token: Token
) -> Response:
    """A page asking to confirm: nothing changes until it is submitted."""
    try:
        who, _ = await consent.unsubscriber(session, settings, token)
    except (BadToken, NotFound) as error:
        return _refused(request, error)
    what = CHANNEL_NAMES[who.channel]
    return _page("Unsubscribe?", f"You will no longer receive {what} from us.", form=True)


@router.post("/{token}", response_class=HTMLResponse, responses=PAGES)
async def one_click(
    request: Request, session: Session, settings: AppSettings, token: Token
) -> Response:
    """Unsubscribe at once (RFC 8058: the body `List-Unsubscribe=One-Click` is what mail
    clients send; any body is taken, the token decides)."""
    try:
        who = await consent.unsubscribe(session, settings, token)
    except (BadToken, NotFound) as error:
        return _refused(request, error)
    what = CHANNEL_NAMES[who.channel]
    return _page("You are unsubscribed", f"You will no longer receive {what} from us.")
