"""The business rules and transactions of each domain, one module each, under the routes.

A route parses, calls one function here and shapes the response. A service takes plain
values and request bodies (`journeys.schemas.Request` models, defined here beside the
function that takes them), reads and writes through `store`, and starts work on Temporal
through `orchestration`. It never commits, except where a Temporal call must follow a
durable write (an event's executions, a customer change's wake-up signals): then it commits
itself before the call, and its docstring says so. Otherwise the request's session commits
once the route returns, before the response is sent. (A run's fan-out and a deleted
journey's cleanup still start before the commit and wait for it; see README, Layout.)
"""
