"""`WaitingRecheck`: the central re-check of every waiting `wait_for_condition`.

One per deployment, for ever: each round is one activity (`orchestration.waking.recheck`)
that runs one query per distinct condition and signals the executions whose customer now
meets theirs, whatever changed it (an edited segment rule, a database written by another
system). Waiting executions themselves cost nothing between their wake-ups.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import history
    from workflows.contracts import RecheckInput, RecheckReport
    from workflows.visibility import RECHECK_WAITING, WAITING_RECHECK

# A round that keeps failing is given up, not retried for ever: the next round starts on
# time and tries afresh.
ROUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)
ROUND_TIMEOUT = timedelta(minutes=10)
ROUND_HEARTBEAT = timedelta(seconds=30)
# A round is some 10 events: the history starts afresh well before Temporal's limits.
HISTORY_LIMIT = 1_000


@workflow.defn(name=WAITING_RECHECK)
class WaitingRecheck:
    @workflow.run
    async def run(self, request: RecheckInput) -> None:
        interval = request.interval_seconds
        while True:
            began = workflow.now()
            try:
                report = await workflow.execute_activity(
                    RECHECK_WAITING,
                    result_type=RecheckReport,
                    start_to_close_timeout=ROUND_TIMEOUT,
                    heartbeat_timeout=ROUND_HEARTBEAT,
                    retry_policy=ROUND_RETRY,
                    summary="re-check waiting executions",
                )
                # The workers' setting, read by the activity: a deploy that changes it takes
                # effect from the next round.
                interval = report.next_seconds
            except ActivityError as error:
                workflow.logger.warning("re-check round failed: %s", error.cause or error)
            took = (workflow.now() - began).total_seconds()
            await workflow.sleep(max(1.0, interval - took), summary="until the next round")
            if history.is_long(HISTORY_LIMIT):
                workflow.continue_as_new(RecheckInput(interval_seconds=interval))
