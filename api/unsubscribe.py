"""The public unsubscribe endpoint of marketing emails (RFC 8058 one-click): no Api-Key, the
signed token is the authority. GET shows a confirmation page (link scanners only GET, so
they unsubscribe no one); POST, what mail clients send, unsubscribes at once."""

import html
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from api.deps import AppSettings, Session
from journeys.errors import NotFound
from journeys.unsubscribe import PATH, BadToken
from services import consent

router = APIRouter(prefix=PATH, tags=["consent"])
Token = Annotated[str, Path(max_length=200, description="The signed token of the link.")]
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


def _refused(error: BadToken | NotFound) -> HTMLResponse:
    if isinstance(error, BadToken):
        return _page("Link not valid", f"{error}. Please use the link from your latest email.", 400)
    return _page("Not found", str(error), 404)


PAGES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The link is malformed or forged.", "content": {"text/html": {}}},
    404: {"description": "The link's customer no longer exists.", "content": {"text/html": {}}},
}


@router.get("/{token}", response_class=HTMLResponse, responses=PAGES)
async def confirm(session: Session, settings: AppSettings, token: Token) -> HTMLResponse:
    """A page asking to confirm: nothing changes until it is submitted."""
    try:
        who, _ = await consent.unsubscriber(session, settings, token)
    except (BadToken, NotFound) as error:
        return _refused(error)
    what = CHANNEL_NAMES[who.channel]
    return _page("Unsubscribe?", f"You will no longer receive {what} from us.", form=True)


@router.post("/{token}", response_class=HTMLResponse, responses=PAGES)
async def one_click(session: Session, settings: AppSettings, token: Token) -> HTMLResponse:
    """Unsubscribe at once (RFC 8058: the body `List-Unsubscribe=One-Click` is what mail
    clients send; any body is taken, the token decides)."""
    try:
        who = await consent.unsubscribe(session, settings, token)
    except (BadToken, NotFound) as error:
        return _refused(error)
    what = CHANNEL_NAMES[who.channel]
    return _page("You are unsubscribed", f"You will no longer receive {what} from us.")
