"""`journeys run`: trigger a manual run through the REST API and follow it to the end."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

# A POST lost on the way (connection reset, API restarting) is sent again with the same
# Idempotency-Key, so it can only ever start one run.
POST_ATTEMPTS = 5
POLL_SECONDS = 0.5


class RunError(Exception):
    """What went wrong, told to the user without a traceback."""


@dataclass(frozen=True)
class RunCommand:
    api_url: str
    api_key: str
    place_id: int
    journey_id: int
    include: list[int]
    exclude: list[int]


class RunClient:
    def __init__(self, request: RunCommand, http: httpx.Client) -> None:
        self.request = request
        self.http = http
        self.base = (
            f"{request.api_url.rstrip('/')}/places/{request.place_id}/journeys/{request.journey_id}"
        )

    def trigger(self) -> dict[str, Any]:
        """POST /run: `{"triggered": N, "runId": ...}`."""
        body = {
            "include_segment_ids": self.request.include,
            "exclude_segment_ids": self.request.exclude,
        }
        headers = {"Idempotency-Key": f"cli-{uuid.uuid4().hex}"}
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                response = self.http.post(f"{self.base}/run", json=body, headers=headers)
            except httpx.TransportError as error:
                if attempt == POST_ATTEMPTS:
                    raise RunError(
                        f"cannot reach the API at {self.request.api_url}: {error}"
                    ) from None
                time.sleep(attempt / 2)
                continue
            if response.status_code == 503 and attempt < POST_ATTEMPTS:
                time.sleep(float(response.headers.get("Retry-After", attempt)))
                continue
            return self._json(response)
        raise AssertionError("unreachable")

    def run(self, run_id: str) -> dict[str, Any]:
        """GET /runs/{runId}: targeted, started, status."""
        try:
            response = self.http.get(f"{self.base}/runs/{run_id}")
        except httpx.TransportError as error:
            raise RunError(f"cannot reach the API at {self.request.api_url}: {error}") from None
        (item,) = self._json(response)["node.journey_run"].values()
        return dict(item)

    def follow(self, run_id: str, progress: Callable[[int], None]) -> dict[str, Any]:
        """Poll the run until every execution is started, reporting `started` as it grows.
        A poll that fails to connect is tried again: the run goes on without us."""
        while True:
            try:
                run = self.run(run_id)
            except RunError:
                time.sleep(POLL_SECONDS * 4)
                continue
            progress(run["started"])
            if run["status"] == "completed":
                return run
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or response.text[:200] or response.reason_phrase
        details = "".join(
            f"\n  {d.get('path')}: {d.get('message')}" for d in error.get("details", [])
        )
        raise RunError(f"{response.status_code}: {message}{details}")
