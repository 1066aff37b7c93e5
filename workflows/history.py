"""When a workflow's history should start afresh (continue as new): Temporal suggests it, or
it has passed the workflow's own limit. Reads only `workflow.info()`: deterministic."""

from temporalio import workflow


def is_long(limit: int) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit
