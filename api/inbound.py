"""Inbound SMS: the webhook the SMS provider calls with the messages a place's number
receives (Twilio's form fields: `From`, `Body`). STOP and its synonyms unsubscribe the
sender's number from SMS, START resubscribes it; no Api-Key, the provider's signature is
the authority (`X-Twilio-Signature` when a Twilio auth token is set, `X-Journeys-Signature`
with `JOURNEYS_WEBHOOK_SECRET` otherwise; neither set: refused)."""

import hmac
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from activities.channels.webhook import SIGNATURE_HEADER, signature
from api.deps import AppSettings, Session
from journeys.errors import Forbidden, Invalid, Issue
from journeys.settings import Settings
from services import consent
from workflows.model.machine import MAX_ID

router = APIRouter(prefix="/inbound", tags=["consent"])
PlaceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The place whose number it is.")]
# An empty TwiML answer: no reply of ours (Twilio's opt-out handling sends its own).
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _url(request: Request, settings: Settings) -> str:
    """The URL the provider called, as it signs it: behind a proxy, the public one."""
    if settings.public_url is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_url.rstrip('/')}{request.url.path}{query}"


def _verify(request: Request, settings: Settings, raw: bytes, params: dict[str, str]) -> None:
    """The provider signed the request, or `Forbidden`. With no secret to check against
    nothing is taken: anyone could otherwise opt anyone out, or back in."""
    twilio = settings.twilio_auth_token
    ours = settings.webhook_secret
    if twilio is not None and twilio.get_secret_value():
        given = request.headers.get("X-Twilio-Signature", "")
        wanted = consent.twilio_signature(
            twilio.get_secret_value(), _url(request, settings), params
        )
    elif ours is not None and ours.get_secret_value():
        given = request.headers.get(SIGNATURE_HEADER, "")
        wanted = signature(ours.get_secret_value().encode(), raw)
    else:
        raise Forbidden(
            "Inbound SMS are taken only when signed: set JOURNEYS_TWILIO_AUTH_TOKEN (Twilio) "
            "or JOURNEYS_WEBHOOK_SECRET on the API."
        )
    if not hmac.compare_digest(given.encode(), wanted.encode()):
        raise Forbidden(
            "The request's signature does not match: it did not come from the provider."
        )


FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"From": {"type": "string"}, "Body": {"type": "string"}},
                    "required": ["From", "Body"],
                }
            }
        },
    }
}


@router.post(
    "/sms/{place_id}",
    response_class=Response,
    responses={
        200: {"description": "Taken (an empty TwiML answer).", "content": {"text/xml": {}}},
        403: {"description": "The provider's signature is missing or wrong."},
    },
    openapi_extra=FORM,
)
async def inbound_sms(
    request: Request, session: Session, settings: AppSettings, place_id: PlaceId
) -> Response:
    """A message the place's number received, form-encoded as Twilio posts it."""
    raw = await request.body()
    try:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise Invalid([Issue("body", "must be form fields in UTF-8")]) from None
    _verify(request, settings, raw, params)
    missing = [Issue(name, "is required") for name in ("From", "Body") if name not in params]
    if missing:
        raise Invalid(missing)
    await consent.sms_reply(session, place_id, params["From"], params["Body"])
    return Response(TWIML, media_type="text/xml")
