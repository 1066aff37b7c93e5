"""Communication templates."""

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import Template


async def channels(
    session: AsyncSession, place_id: int, ids: Iterable[int], *, share: bool = False
) -> dict[int, str]:
    """The channel of each of `ids` that is a template of the place; with `share`, the rows
    can't be deleted until the transaction ends (a config that names them is being saved)."""
    wanted = set(ids)
    if not wanted:
        return {}
    query = select(Template.id, Template.channel).where(
        Template.place_id == place_id, col(Template.id).in_(wanted)
    )
    rows = await session.exec(query.with_for_update(read=True) if share else query)
    return {template_id: channel for template_id, channel in rows if template_id is not None}
