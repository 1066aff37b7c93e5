"""Wall-clock time for rows (Unix seconds). Never used by workflow code."""

import time


def now() -> int:
    return int(time.time())
