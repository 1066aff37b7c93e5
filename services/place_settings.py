"""A place's settings for marketing sends: its time zone, quiet hours and frequency caps."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.local_time import HOUR_MINUTE, zone_name
from journeys.schemas import Request, Resource
from store import place_settings as store
from store.tables import PlaceSettings


def _clock(value: str) -> str:
    if not re.match(HOUR_MINUTE, value):
        raise ValueError("must be a local time HH:MM, 00:00 to 23:59")
    return value


Clock = Annotated[
    str,
    Field(description="Local wall-clock time, HH:MM.", examples=["21:00"]),
    AfterValidator(_clock),
]


class QuietHours(Request):
    """Marketing sends that fall in this local window wait until it ends (overnight when
    `end` is earlier than `start`)."""

    start: Clock
    end: Clock


class FrequencyCap(Request):
    """At most `max` marketing messages on the channel in any `per_days` days."""

    max: Annotated[int, Field(ge=0, le=1000)]
    per_days: Annotated[int, Field(ge=1, le=365)]


class FrequencyCaps(Request):
    email: FrequencyCap | None = None
    sms: FrequencyCap | None = None
    push: FrequencyCap | None = None


class PlaceSettingsUpdate(Request):
    """Fields given replace the stored ones; null quiet hours turn them off."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timezone": "Europe/Berlin",
                    "quiet_hours": {"start": "21:00", "end": "08:00"},
                    "frequency_caps": {
                        "email": {"max": 3, "per_days": 7},
                        "sms": {"max": 1, "per_days": 1},
                    },
                }
            ]
        }
    )

    timezone: Annotated[str, Field(max_length=64), AfterValidator(zone_name)] | None = None
    quiet_hours: QuietHours | None = None
    frequency_caps: FrequencyCaps | None = None


class QuietHoursOut(Resource):
    start: str
    end: str


class FrequencyCapOut(Resource):
    max: int
    per_days: int


class PlaceSettingsOut(Resource):
    id: int  # the place's
    timezone: str
    quiet_hours: QuietHoursOut | None
    frequency_caps: dict[str, FrequencyCapOut]
    updated: int

    @classmethod
    def of(cls, row: PlaceSettings) -> "PlaceSettingsOut":
        return cls.model_validate(
            {
                "id": row.place_id,
                "timezone": row.timezone,
                "quiet_hours": row.quiet_hours,
                "frequency_caps": row.frequency_caps,
                "updated": row.updated,
            }
        )


async def get(session: AsyncSession, place_id: int) -> PlaceSettings:
    return await store.get(session, place_id)


async def update(session: AsyncSession, place_id: int, body: PlaceSettingsUpdate) -> PlaceSettings:
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    if "timezone" in given:
        # null: back to the default.
        changes["timezone"] = body.timezone or "UTC"
    if "quiet_hours" in given:
        changes["quiet_hours"] = body.quiet_hours.model_dump() if body.quiet_hours else None
    if "frequency_caps" in given:
        caps = body.frequency_caps
        changes["frequency_caps"] = caps.model_dump(exclude_none=True) if caps else {}
    return await store.put(session, place_id, changes)
