"""Scenario 5 of `python -m bench`: reads at a fixed rate, on the bench's largest journey.

`GET /journeys/{id}`, `GET /journeys`, `GET /journeys/{id}/stats` and
`GET /journeys/{id}/executions`, each `rate` times a second for `seconds` (an open loop):
p50/p99 of each. A bare row beside the stats: one visibility count by status, the query
Temporal answers for every stats call.
"""

from bench.compare import Round, Row, Stack, paced
from bench.stack import PLACE
from workflows.visibility import executions_query

STATS_GOAL = 0.3  # seconds, p99


async def reads(
    stack: Stack, journey: int, executions: int, rate: float, seconds: float
) -> list[Row]:
    base = f"/places/{PLACE}/journeys"
    paths = {
        "journey": f"{base}/{journey}",
        "journeys": base,
        "stats": f"{base}/{journey}/stats",
        "executions": f"{base}/{journey}/executions",
    }
    count = max(1, int(rate * seconds))
    rows = []
    for name, path in paths.items():

        async def one(_: int, path: str = path) -> None:
            (await stack.http.get(path)).raise_for_status()

        row = Row(f"5 reads: GET {name}", goal=None, latency_unit="ms")
        stack.peak()
        latencies, failures = await paced(count, rate, one)
        row.rounds.append(Round("ours", len(latencies), seconds, latencies, {}, failures))
        if name == "stats":

            async def bare(_: int) -> None:
                query = executions_query(PLACE, journey)
                await stack.client.count_workflows(f"{query} GROUP BY ExecutionStatus")

            latencies, failures = await paced(count, rate, bare)
            row.rounds.append(Round("bare", len(latencies), seconds, latencies, {}, failures))
            row.note = f"over {executions} executions; goal p99 < {STATS_GOAL * 1000:.0f} ms"
        row.rss = stack.peak()
        rows.append(row)
    return rows
