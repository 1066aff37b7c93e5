"""`TemplateTestSend`: one test message, sent by the worker (which holds the providers).

The API starts it with an id derived from the request's idempotency key and waits a few
seconds for its outcome; a repeated request joins it, or reads the outcome it had.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import SendResult, SendTestInput
    from workflows.journey import SEND_HEARTBEAT, SEND_TIMEOUT
    from workflows.visibility import SEND_TEST_MESSAGE, TEMPLATE_TEST_SEND

# An operator is waiting for the answer: a provider that is down is tried briefly (three
# attempts over some 3 s), then the workflow fails and the API answers 503. The message
# stays `pending`, and the same request again starts a new attempt on the same message.
TEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=2), maximum_attempts=3
)


@workflow.defn(name=TEMPLATE_TEST_SEND)
class TemplateTestSend:
    @workflow.run
    async def run(self, request: SendTestInput) -> SendResult:
        sent: SendResult = await workflow.execute_activity(
            SEND_TEST_MESSAGE,
            request,
            result_type=SendResult,
            # The same bounds as a journey's send: Temporal gives up on an attempt only
            # once it can no longer be talking to the provider (see `activities.delivery`).
            start_to_close_timeout=SEND_TIMEOUT,
            heartbeat_timeout=SEND_HEARTBEAT,
            retry_policy=TEST_RETRY,
            summary=f"test {request.channel} of template {request.template_id}",
        )
        return sent
