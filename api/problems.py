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
