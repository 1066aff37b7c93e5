"""Wall-clock time for rows (Unix seconds). Never used by workflow code."""

import time

DAY = 86_400  # seconds


def now() -> int:
    return int(time.time())
