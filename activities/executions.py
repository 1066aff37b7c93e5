"""Activities that act on journey executions in Temporal (for `JourneyCleanup`)."""

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from store import waiting
from store.db import SessionFactory
from workflows.contracts import CleanupInput, EndExecutionsInput, ExecutionsPage
from workflows.visibility import END_EXECUTIONS, LIST_JOURNEY_EXECUTIONS, to_end_query

PAGE = 500


class Executions:
    def __init__(self, client: Client, sessions: SessionFactory) -> None:
        self.client = client
        self.sessions = sessions

    @activity.defn(name=LIST_JOURNEY_EXECUTIONS)
    async def list_journey_executions(self, request: CleanupInput) -> ExecutionsPage:
        """Up to a page of the executions still to end: running ones, and for a delete the
        closed ones too (their records go as well), and the fan-outs of its manual runs."""
        query = to_end_query(
            request.place_id, request.journey_id, request.mode, request.started_before
        )
        ids = [execution.id async for execution in self.client.list_workflows(query, limit=PAGE)]
        return ExecutionsPage(ids=list(dict.fromkeys(ids)))

    @activity.defn(name=END_EXECUTIONS)
    async def end_executions(self, request: EndExecutionsInput) -> int:
        """End these executions; how many there were to end (not already gone)."""
        ended = 0
        for number, execution_id in enumerate(request.ids):
            handle = self.client.get_workflow_handle(execution_id)
            try:
                if request.mode == "cancel":
                    await handle.cancel()
                else:
                    await self.client.workflow_service.delete_workflow_execution(
                        DeleteWorkflowExecutionRequest(
                            namespace=self.client.namespace,
                            workflow_execution=WorkflowExecution(workflow_id=execution_id),
                        )
                    )
                ended += 1
            except RPCError as error:
                # Already gone, or closed before the cancel reached it: nothing left to do.
                if error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise
            activity.heartbeat(number)
        # Ended executions wait for nothing (a cancelled one says so itself, unless it was
        # cancelled mid-step; a deleted one can't).
        async with self.sessions() as session:
            await waiting.forget(session, request.ids)
            await session.commit()
        return ended
