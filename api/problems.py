"""The error body every failure is answered with."""

from collections.abc import Iterable

from starlette.responses import JSONResponse


def error_response(
    status: int, code: str, message: str, details: Iterable[tuple[str, str]] = ()
) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": message,
                "details": [{"path": path, "message": text} for path, text in details],
            }
        },
        status_code=status,
    )


# The header a 503 carries, as the OpenAPI document describes it.
RETRY_AFTER = {
    "description": "Seconds to wait before sending the same request again.",
    "schema": {"type": "integer"},
}
