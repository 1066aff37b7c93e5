"""The business rules and transactions of each domain, one module each, under the routes.

A route parses, calls one function here and shapes the response. A service takes plain
values and request bodies (`journeys.schemas.Request` models, defined here beside the
function that takes them), reads and writes through `store`, and starts work on Temporal
through `orchestration`. It never commits, except where a Temporal call must follow a
durable write (an event's executions, a run's fan-out, a journey's cleanup): then it
commits itself, and its docstring says so. Otherwise the request's session commits once
the route returns, before the response is sent.
"""
