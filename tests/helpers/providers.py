"""Provider settings and replies for the loopback SMTP and HTTP servers (Twilio, FCM)."""

import hashlib
from collections.abc import Callable
from typing import Any

from tests.servers import LOOPBACK, HttpServer, Reply, Request

SENDER = "Example Rewards <rewards@example.com>"
ZOE = "zoe@example.com"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-secret"
TWILIO_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
FCM_PATH = "/v1/projects/demo-project/messages:send"


def smtp_settings(port: int, **fields: Any) -> dict[str, Any]:
    return {
        "email_provider": "smtp",
        "smtp_host": LOOPBACK,
        "smtp_port": port,
        "smtp_security": "none",
        "email_from": SENDER,
        "smtp_timeout_seconds": 2.0,
        **fields,
    }


def twilio_settings(http: HttpServer, **fields: Any) -> dict[str, Any]:
    return {
        "sms_provider": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": "+15005550006",
        "twilio_base_url": http.url,
        "http_timeout_seconds": 2.0,
        **fields,
    }


def twilio_created(request: Request) -> Reply:
    sid = "SM" + hashlib.sha256(request.body).hexdigest()[:32]
    return Reply(201, {"sid": sid, "status": "queued", "to": request.form()["To"]})


def fcm_settings(http: HttpServer, **fields: Any) -> dict[str, Any]:
    return {
        "push_provider": "fcm",
        "fcm_project_id": "demo-project",
        "fcm_access_token": "static-token",
        "fcm_base_url": http.url,
        "http_timeout_seconds": 2.0,
        **fields,
    }


def fcm_error(status: int, code: str, text: str) -> Reply:
    names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}
    detail = {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
    return Reply(
        status,
        {
            "error": {
                "code": status,
                "message": text,
                "status": names.get(status, "UNAVAILABLE"),
                "details": [detail],
            }
        },
    )


def fcm_devices(**replies: Reply) -> Callable[[Request], Reply]:
    """Answer FCM sends per device token; tokens not named are delivered."""

    def handle(request: Request) -> Reply:
        token = request.json()["message"]["token"]
        return replies.get(token) or Reply(200, {"name": f"projects/demo-project/messages/{token}"})

    return handle
