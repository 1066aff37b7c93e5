"""ASGI middleware that vets every request body before FastAPI sees it.

FastAPI would answer some malformed bodies with a 5xx or let them reach the database: a body
nested deeply enough to exhaust the parser's recursion, `NaN`, `Infinity` or a number too large
for a float such as `1e400` (PostgreSQL's json type refuses them and the response encoder can't
write them), an integer longer than Python will convert, NUL characters (which PostgreSQL's text
type refuses), lone UTF-16 surrogates (which can't be encoded to UTF-8). Here each becomes a 4xx
with the error body, and the size limit is enforced while the body streams in rather than after
it is buffered. Paths are relative to the body (`machine_config.states`), as in every other
validation error; a problem with the body as a whole is at `body`.
"""

import json
import math
import re
import sys
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.contract import PUBLIC_PREFIXES, is_console
from api.deps import BODY_STATE, MANAGER_STATE
from api.errors import dependency_response, domain_response
from api.problems import error_response
from journeys.errors import DomainError
from services.auth import authenticate
from workflows.model.machine import MAX_ID

MAX_DEPTH = 64
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_PLACE_PATH = re.compile(r"^/places/([0-9]{1,19})(?:/|$)")


class BadBody(Exception):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _check(value: Any, path: str, depth: int) -> None:
    """Check `value` found at `path` (dotted, relative to the body; "" is the body itself)."""
    where = path or "body"
    if depth > MAX_DEPTH:
        raise BadBody(where, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value, where, "contains")
    elif isinstance(value, float) and not math.isfinite(value):
        # `json` reads NaN and Infinity literals, and overflows 1e400 to infinity.
        raise BadBody(where, "must be a finite number (NaN, Infinity and 1e400 are not)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where, "has a key that contains")
            _check(item, _join(path, key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, _join(path, i), depth + 1)


def _check_text(text: str, path: str, problem: str) -> None:
    if "\x00" in text:
        raise BadBody(path, f"{problem} a NUL character (\\u0000)")
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadBody(path, f"{problem} an unpaired UTF-16 surrogate") from None


def vet(body: bytes) -> Any:
    """The JSON document `body` holds; `BadBody` unless it is UTF-8 JSON we can store and
    answer safely."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadBody("body", f"is not valid UTF-8 (byte {error.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadBody(
            "body", f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError:
        # The only other ValueError: an integer past Python's int/str conversion limit.
        limit = sys.get_int_max_str_digits()
        raise BadBody("body", f"has an integer with more than {limit} digits") from None
    except RecursionError:
        raise BadBody("body", f"nested deeper than {MAX_DEPTH} levels") from None
    _check(document, "", 0)
    return document


async def _authenticated(scope: Scope) -> Response | None:
    """Authenticate a request to a place before its body is read: None, with the caller left
    in the request's state for the route, or the answer refusing it (401, 403, 503)."""
    match = _PLACE_PATH.match(scope["path"])
    if match is None or not 1 <= int(match.group(1)) <= MAX_ID:
        return None  # not a place's resource: the route answers as usual
    headers = dict(scope["headers"])
    raw_key = headers.get(b"api-key")
    state = scope["app"].state
    try:
        manager = await authenticate(
            state.sessions,
            state.keys,
            int(match.group(1)),
            raw_key.decode("latin-1") if raw_key is not None else None,
        )
    except DomainError as error:
        return domain_response(error)
    except Exception as error:
        unavailable = dependency_response(error)
        if unavailable is None:
            raise
        return unavailable
    scope.setdefault("state", {})[MANAGER_STATE] = manager
    return None


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        refusal = await _authenticated(scope)
        if refusal is not None:
            # Nobody reads (or parses) what an unknown caller sends.
            await refusal(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and self._over(declared):
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
        if scope["path"].startswith(PUBLIC_PREFIXES) or is_console(scope["path"]):
            # What mail clients, SMS providers and the console's pages send (form fields):
            # bounded, not JSON.
            pass
        elif not body.strip():
            # Whitespace is no body at all: answer "a JSON body is required", not a parse error.
            body = b""
        else:
            try:
                document = vet(body)
            except BadBody as bad:
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
            scope.setdefault("state", {})[BODY_STATE] = document

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _over(self, digits: bytes) -> bool:
        # Compare lengths first: int() refuses strings of more than 4300 digits.
        digits = digits.lstrip(b"0")
        return len(digits) > len(str(self.max_bytes)) or int(digits or b"0") > self.max_bytes

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"The request body is larger than {self.max_bytes} bytes.",
            [("body", f"at most {self.max_bytes} bytes")],
        )
        await response(scope, receive, send)
