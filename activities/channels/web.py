"""HTTP plumbing shared by the HTTP providers: one client each, and one rule for statuses."""

from collections.abc import Callable
from typing import Any

import httpx

from activities.channels.base import ProviderUnavailable, Rejected

USER_AGENT = "journeys-channels/1"

# 4xx means "this request will never succeed", except: 408/429 ask us to come back later, and
# 401 means our credentials are wrong or expired, an operator's problem that a fix (or a fresh
# token) cures, so it must not permanently fail every customer's message meanwhile.
RETRYABLE_4XX = frozenset({401, 408, 429})


def new_client(timeout_seconds: float) -> httpx.AsyncClient:
    """The one client a channel keeps for its lifetime (connection pooling, explicit timeouts)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


def is_retryable(status: int) -> bool:
    return not 400 <= status < 500 or status in RETRYABLE_4XX


async def post(client: httpx.AsyncClient, what: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST; a request that never got an answer is `ProviderUnavailable` (so retried)."""
    try:
        return await client.post(url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        # Never connected: nothing was sent.
        raise ProviderUnavailable(f"{what}: {type(error).__name__}: {error}") from error
    except httpx.TimeoutException as error:
        raise ProviderUnavailable(
            f"{what}: timed out ({type(error).__name__})", uncertain=True
        ) from error
    except httpx.HTTPError as error:
        raise ProviderUnavailable(
            f"{what}: {type(error).__name__}: {error}", uncertain=True
        ) from error


def check(
    response: httpx.Response, what: str, explain: Callable[[httpx.Response], str] | None = None
) -> httpx.Response:
    """Pass a 2xx through; raise `Rejected` or `ProviderUnavailable` for anything else."""
    if response.is_success:
        return response
    detail = (explain or error_text)(response)
    reason = f"{what}: HTTP {response.status_code}: {detail}"
    if is_retryable(response.status_code):
        raise ProviderUnavailable(reason)
    raise Rejected(reason)


def error_text(response: httpx.Response) -> str:
    """The most telling part of an error answer: a JSON `message`/`error`, else the text."""
    body = json_object(response)
    for key in ("message", "error_description", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    return response.text.strip() or response.reason_phrase


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is anything else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
