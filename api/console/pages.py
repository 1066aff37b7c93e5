"""Rendering the console's pages (Jinja2, autoescaped) and its error pages."""

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services import console_auth
from services.console_auth import Operator

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["datetime"] = lambda seconds: (
    time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds)) if seconds else ""
)


def render(
    request: Request,
    template_file: str,
    operator: Operator | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page: `template_file` with what every page shows (the operator's place, the CSRF token
    their forms carry; the sign-in form brings its own)."""
    settings = request.app.state.settings
    if operator is not None and settings.console_secret is not None:
        key = settings.console_secret.get_secret_value()
        context["csrf"] = console_auth.csrf_token(key, operator.nonce)
    html = _env.get_template(template_file).render(
        operator=operator, path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status)
    # Pages hold a place's data: never cached, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Links out (the Temporal UI) don't carry the console's URLs.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    )
    return response


def error_page(
    request: Request, status: int, message: str, details: list[str] | None = None
) -> HTMLResponse:
    titles = {
        401: "Sign in again",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Not accepted",
        503: "Unavailable",
    }
    response = render(
        request,
        "error.html",
        status=status,
        title=titles.get(status, "Something went wrong"),
        message=message,
        details=details or [],
    )
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response
