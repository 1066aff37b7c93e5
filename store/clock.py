"""Wall-clock time for rows (Unix seconds). Never used by workflow code."""

import time

DAY = 86_400  # seconds


def now() -> int:
    return int(time.time())


def now_ms() -> int:
    """Unix milliseconds: what orders an event and a wait that begin in the same second."""
    return int(time.time() * 1000)
