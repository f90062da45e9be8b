"""The one restart backoff: crashed actors, dead worker processes, a vanished microphone.

The first retry waits BACKOFF_FIRST_S; each failure after it doubles the wait, up to
BACKOFF_MAX_S (a microphone may cap it lower: capture.retry_max_s). Imports nothing, so
the worker module can use it before the daemon's heavy imports.
"""

BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 5.0


def next_backoff(delay_s: float, cap_s: float = BACKOFF_MAX_S) -> float:
    """The wait after one more failure."""
    return min(delay_s * 2, cap_s)
