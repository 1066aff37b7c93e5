"""`JourneyCleanup`: ends every execution of a journey, durably.

Started by `/stop` with `cancel_running` and by `DELETE`; because it is a workflow, the work
finishes even if the API that asked for it dies a moment later.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import CleanupInput, EndExecutionsInput, ExecutionsPage

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Visibility lags a moment behind starts: an execution started just before the request may
# only show up on a later look, so the work is done once a few looks in a row find nothing.
QUIET_LOOKS = 3
LOOK_INTERVAL = timedelta(seconds=2)
# A look that finds only executions already gone counts as quiet: deleting an execution as it
# closes can leave its visibility record behind for a while, and looking again and again at
# such a ghost must not keep the cleanup going.
GHOSTS_PATCH = "cleanup-ghosts-are-quiet"


@workflow.defn(name="JourneyCleanup")
class JourneyCleanup:
    @workflow.run
    async def run(self, request: CleanupInput) -> int:
        ended = 0
        quiet = 0
        while quiet < QUIET_LOOKS:
            page = await workflow.execute_activity(
                "list_journey_executions",
                request,
                result_type=ExecutionsPage,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            if not page.ids:
                quiet += 1
                await workflow.sleep(LOOK_INTERVAL)
                continue
            ended_now = await workflow.execute_activity(
                "end_executions",
                EndExecutionsInput(
                    ids=page.ids,
                    mode=request.mode,
                    reason=f"journey {request.journey_id} "
                    + ("was deleted" if request.mode == "delete" else "was stopped"),
                ),
                result_type=int | None,  # type: ignore[arg-type]
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            if workflow.patched(GHOSTS_PATCH):
                if not ended_now:
                    quiet += 1
                    await workflow.sleep(LOOK_INTERVAL)
                    continue
                ended += ended_now
            else:
                ended += len(page.ids)
            quiet = 0
        return ended
