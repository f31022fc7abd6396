"""Wall-clock seconds, in one place so tests can move time."""

import time


def now() -> int:
    return int(time.time())
