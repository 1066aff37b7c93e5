"""The console's session: the signed-in operator of each page (from the session cookie),
the CSRF check of each form that changes something, and the forms' bodies."""

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request

from api.contract import CONSOLE_PREFIX
from journeys.errors import Forbidden, Invalid, Issue
from journeys.settings import Settings
from services import console_auth
from services.console_auth import SESSION_COOKIE, Operator

PREFIX = CONSOLE_PREFIX
# A form's fields (a run form ticks up to two per segment); its body is bounded by the API's
# body limit anyway.
MAX_FORM_FIELDS = 500


class SignInFirst(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""


class ConsoleClosed(Exception):
    """No `JOURNEYS_CONSOLE_SECRET`: nobody can sign in."""


def secret(settings: Settings) -> str:
    if settings.console_secret is None:
        raise ConsoleClosed()
    return settings.console_secret.get_secret_value()


async def _operator(request: Request) -> Operator:
    state = request.app.state
    operator = console_auth.read(secret(state.settings), request.cookies.get(SESSION_COOKIE))
    if operator is None or not await console_auth.still_valid(state.sessions, state.keys, operator):
        raise SignInFirst()
    return operator


CurrentOperator = Annotated[Operator, Depends(_operator)]


async def fields_of(request: Request) -> dict[str, list[str]]:
    """A form's fields, each with every value given (`Invalid` for a form no page sends:
    too many fields, or NUL characters, which no text column takes)."""
    raw = (await request.body()).decode(errors="replace")
    if "\x00" in raw or "%00" in raw:
        raise Invalid([Issue("body", "a form's fields can't hold NUL characters")])
    try:
        return parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Invalid([Issue("body", f"a form has at most {MAX_FORM_FIELDS} fields")]) from None


async def form(request: Request) -> dict[str, str]:
    """A form's fields (the last value of each)."""
    return {name: values[-1] for name, values in (await fields_of(request)).items()}


async def _checked_form(request: Request, operator: CurrentOperator) -> dict[str, str]:
    fields = await form(request)
    key = secret(request.app.state.settings)
    if not console_auth.csrf_ok(key, operator.nonce, fields.get("csrf")):
        raise Forbidden("This form has expired or did not come from the console; try again.")
    return fields


# A changing form's fields, once its CSRF token is checked against the session.
CheckedForm = Annotated[dict[str, str], Depends(_checked_form)]
