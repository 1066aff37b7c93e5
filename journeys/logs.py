"""Process logging for `journeys api` and `journeys worker`: lines for people, or one JSON
object a line (`JOURNEYS_LOG_FORMAT=json`) for a log pipeline."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from journeys.settings import Settings

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The worker's logger for messages handed to a provider (`activities.delivery`); `journeys
# dev` shows its lines (`journeys.devstack.SentLines`).
SENT_LOGGER = "journeys.sent"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(settings: Settings) -> None:
    """One handler on the root logger (uvicorn's and the Temporal SDK's loggers included)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
