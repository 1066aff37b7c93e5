"""What the garbage collector looks at in a long-running process (the API, a worker)."""

import gc


def settle() -> None:
    """Take what the process allocated while starting — modules, the app and its routes, the
    workflow definitions: ~200 000 objects, nearly all of them kept for its life — out of the
    collector's sight (`gc.freeze`), after one collection of what starting left behind.

    Every so often CPython's collector walks every object of the oldest generation, holding
    the GIL throughout: over those objects that took 150-330 ms on a 2-core machine, a pause
    each request then in flight waited out (a p99 of its own). Frozen, they are never walked
    again; the same collection takes ~2 ms. Called once, by the `journeys api` and `journeys
    worker` commands, not by tests that build apps in one process."""
    gc.collect()
    gc.freeze()
