"""How `/stats` keeps a journey's counts (`services.kept.Kept`): shared while fresh, answered
at once and counted again in the background while stale, counted while the caller waits once
too old; one count at a time per journey; a failed background count keeps the last one."""

import asyncio

from services.kept import Kept

FRESH, STALE = 0.2, 1.0


class Counts:
    """A count that takes `seconds` and answers 1, 2, 3, … (or fails when told to)."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.made = 0
        self.running = 0
        self.most_at_once = 0
        self.fail = False

    async def __call__(self) -> int:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise ConnectionError("visibility is down")
            self.made += 1
            return self.made
        finally:
            self.running -= 1


async def test_callers_at_once_share_one_count_and_fresh_answers_are_reused():
    kept: Kept[int] = Kept(FRESH, STALE)
    count = Counts()
    answers = await asyncio.gather(*(kept.get("journey", count) for _ in range(20)))
    assert answers == [1] * 20
    assert (count.made, count.most_at_once) == (1, 1)
    assert await kept.get("journey", count) == 1
    assert await kept.get("another", count) == 2


async def test_a_stale_answer_comes_at_once_and_the_next_is_counted_meanwhile():
    kept: Kept[int] = Kept(FRESH, STALE)
    count = Counts(seconds=0.3)
    assert await kept.get("journey", count) == 1
    await asyncio.sleep(FRESH + 0.05)
    # Stale: the last count at once (not after the 0.3 s a count takes), once per caller,
    # with one count started for all of them.
    began = asyncio.get_running_loop().time()
    assert [await kept.get("journey", count) for _ in range(5)] == [1] * 5
    assert asyncio.get_running_loop().time() - began < 0.1
    await asyncio.sleep(0.4)
    assert count.made == 2
    assert await kept.get("journey", count) == 2
    await kept.close()


async def test_an_answer_past_the_stale_limit_is_counted_again_while_the_caller_waits():
    kept: Kept[int] = Kept(FRESH, STALE)
    count = Counts()
    assert await kept.get("journey", count) == 1
    await asyncio.sleep(STALE + 0.05)
    assert await kept.get("journey", count) == 2


async def test_a_failed_background_count_keeps_the_last_answer():
    kept: Kept[int] = Kept(FRESH, STALE)
    count = Counts()
    assert await kept.get("journey", count) == 1
    await asyncio.sleep(FRESH + 0.05)
    count.fail = True
    assert await kept.get("journey", count) == 1
    await asyncio.sleep(0.1)  # the background count failed
    assert not kept.running
    count.fail = False
    assert await kept.get("journey", count) == 1  # the last one, while the next is counted
    await asyncio.sleep(0.1)
    assert await kept.get("journey", count) == 2


async def test_callers_waiting_for_a_count_that_fails_all_hear_of_that_one_failure():
    kept: Kept[int] = Kept(FRESH, STALE)
    count = Counts()
    count.fail = True
    answers = await asyncio.gather(
        *(kept.get("journey", count) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(answer, ConnectionError) for answer in answers)
    assert (count.most_at_once, kept.running) == (1, {})
    count.fail = False
    assert await kept.get("journey", count) == 1


async def test_only_so_many_journeys_are_kept():
    kept: Kept[int] = Kept(FRESH, STALE, size=3)
    count = Counts(seconds=0)
    for journey in range(5):
        await kept.get(journey, count)
    assert set(kept.values) == {2, 3, 4}
