"""ASGI middleware that vets every request body before FastAPI sees it.

FastAPI would answer some malformed bodies with a 5xx or let them reach the database: a body
nested deeply enough to exhaust the parser's recursion, `NaN` (which PostgreSQL's json type
refuses), NUL characters (which PostgreSQL's text type refuses), lone UTF-16 surrogates (which
can't be encoded to UTF-8). Here each becomes a 4xx with the error body, and the size limit is
enforced while the body streams in rather than after it is buffered.
"""

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import error_response

MAX_DEPTH = 64
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class _BadBody(Exception):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message


def _reject_constant(name: str) -> Any:
    raise _BadBody("body", f"{name} is not valid JSON")


def _check(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _BadBody(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}.{i}", depth + 1)


def _check_text(text: str, path: str) -> None:
    if text.isascii():
        if "\x00" in text:
            raise _BadBody(path, "contains a NUL character (\\u0000)")
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _BadBody(path, "contains an unpaired UTF-16 surrogate") from None


def vet(body: bytes) -> None:
    """Raise `_BadBody` unless `body` is UTF-8 JSON we can store and answer safely."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _BadBody("body", f"is not valid UTF-8 (byte {error.start})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise _BadBody(
            "body", f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise _BadBody("body", f"nested deeper than {MAX_DEPTH} levels") from None
    path = "body"
    _check(document, path, 0)


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                vet(body)
            except _BadBody as bad:
                response = error_response(
                    422,
                    "validation_error",
                    "The request body is not acceptable JSON.",
                    [(bad.path, bad.message)],
                )
                await response(scope, receive, send)
                return
            # We only speak JSON: a JSON body sent without its content type (curl -d) is
            # read as JSON rather than refused for its header.
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"The request body is larger than {self.max_bytes} bytes.",
            [("body", f"at most {self.max_bytes} bytes")],
        )
        await response(scope, receive, send)
