"""`JourneyCleanup`: ends every execution of a journey, durably.

Started by `/stop` with `cancel_running` and by `DELETE`; because it is a workflow, the work
finishes even if the API that asked for it dies a moment later.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import CleanupInput, EndExecutionsInput, ExecutionsPage
    from workflows.visibility import (
        END_EXECUTIONS,
        JOURNEY_CLEANUP,
        JOURNEY_EXISTS,
        LIST_JOURNEY_EXECUTIONS,
    )

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Visibility lags a moment behind starts: an execution started just before the request may
# only show up on a later look, so the work is done once a few looks in a row find nothing.
QUIET_LOOKS = 3
LOOK_INTERVAL = timedelta(seconds=2)
# A look that finds only executions already gone counts as quiet: deleting an execution as it
# closes can leave its visibility record behind for a while, and looking again and again at
# such a ghost must not keep the cleanup going.
GHOSTS_PATCH = "cleanup-ghosts-are-quiet"
# Deletes used to start their cleanup before their transaction committed, so the cleanup
# waited for the row to be gone (and gave up if it never went). They now commit first and
# start it after (`orchestration.handoff`): a cleanup started since has nothing to wait for.
# Cleanups that began waiting under the old order still do.
DELETE_COMMITTED_PATCH = "cleanup-waits-for-the-delete"
STARTED_AFTER_COMMIT_PATCH = "cleanup-starts-after-the-commit"


@workflow.defn(name=JOURNEY_CLEANUP)
class JourneyCleanup:
    @workflow.run
    async def run(self, request: CleanupInput) -> int:
        if (
            request.mode == "delete"
            and not workflow.patched(STARTED_AFTER_COMMIT_PATCH)
            and workflow.patched(DELETE_COMMITTED_PATCH)
        ):
            await _until_deleted(request)
        ended = 0
        quiet = 0
        while quiet < QUIET_LOOKS:
            page = await workflow.execute_activity(
                LIST_JOURNEY_EXECUTIONS,
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
                END_EXECUTIONS,
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


async def _until_deleted(request: CleanupInput) -> None:
    waited, pause = 0, 1
    while await workflow.execute_activity(
        JOURNEY_EXISTS,
        request,
        result_type=bool,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RETRY,
    ):
        if waited >= request.commit_grace_seconds:
            raise ApplicationError(
                f"journey {request.journey_id} still exists {waited} s after its delete "
                "began: the delete was rolled back, so no execution was ended",
                type="DeleteNotCommitted",
                non_retryable=True,
            )
        await workflow.sleep(timedelta(seconds=pause))
        waited, pause = waited + pause, min(pause * 2, 30)
