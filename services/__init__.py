"""The business rules and transactions of each domain, one module each, under the routes.

A route parses, calls one function here and shapes the response. A service takes plain
values and request bodies (`journeys.schemas.Request` models, defined here beside the
function that takes them), reads and writes through `store`, and starts work on Temporal
through `orchestration`. It never commits, except where a Temporal call must follow a
durable write (an event's executions, a run's fan-out, a stopped or deleted journey's
cleanup, a customer change's wake-up signals): then it commits itself before the call, in
the one order `orchestration.handoff` describes, and its docstring says so. Otherwise the
request's session commits once the route returns, before the response is sent.
"""
