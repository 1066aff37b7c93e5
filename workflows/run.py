"""`ManualRun`: the fan-out of a manual run, starting one execution per targeted customer.

The audience is the snapshot `/run` recorded; pages of it are started by an activity that
heartbeats its cursor, so a lost worker resumes mid-page, and execution ids are deterministic,
so a page started twice starts nobody twice. The workflow itself only carries the cursor
from page to page and continues as new before its history grows.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import history
    from workflows.contracts import FanOutPage, RunInput
    from workflows.visibility import JOURNEY_RUN, START_RUN_PAGE

# Temporal or the database being away only delays the fan-out; it is never given up.
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
PAGE_TIMEOUT = timedelta(minutes=10)
# A page lost with its worker is picked up again this soon.
PAGE_HEARTBEAT = timedelta(seconds=10)


@workflow.defn(name=JOURNEY_RUN)
class RunFanOut:
    @workflow.run
    async def run(self, request: RunInput) -> int:
        while True:
            page = await workflow.execute_activity(
                START_RUN_PAGE,
                request,
                result_type=FanOutPage,
                start_to_close_timeout=PAGE_TIMEOUT,
                heartbeat_timeout=PAGE_HEARTBEAT,
                retry_policy=PAGE_RETRY,
                summary=f"start executions after customer {request.after}",
            )
            request = request.model_copy(update={"after": page.after, "started": page.started})
            if page.done:
                started: int = page.started
                return started
            if history.is_long(request.history_limit):
                workflow.continue_as_new(request)
