"""One bounded poll for the whole lab: ask a question until it says yes or the time is up.

``wait_until(predicate, timeout, interval, what)`` calls PREDICATE at once, then every
INTERVAL seconds; the first truthy answer is returned. When TIMEOUT seconds have passed it
asks one last time, exactly at the deadline (so a slow host that was descheduled during a
sleep still gets its answer counted), then raises ``WaitTimeout``: a ``TimeoutError`` that
names WHAT and keeps the last answer (``.last``) for callers that report it or go on anyway::

    pid = wait_until(find_pid, timeout=60, interval=0.2, what="libvirtd's PID")

    with contextlib.suppress(WaitTimeout):  # best effort: go on after GRACE seconds
        wait_until(lambda: not any(map(alive, pids)), grace, 0.1, "processes to exit")

Exceptions raised by PREDICATE are not caught: a poll that learns the wait is hopeless (the
daemon died) says so at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """PREDICATE never answered yes within the timeout; ``last`` is its final answer."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        super().__init__(f"gave up waiting for {what} after {timeout:g} s")
        self.what = what
        self.timeout = timeout
        self.last = last


def wait_until(predicate: Callable[[], T], timeout: float, interval: float, what: str) -> T:
    """PREDICATE's first truthy answer, asked at once and then every INTERVAL seconds; raises
    WaitTimeout after a last try at TIMEOUT seconds (a TIMEOUT of 0 or less: one try)."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    deadline = time.monotonic() + timeout
    while True:
        answer = predicate()
        if answer:
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(what, timeout, answer)
        time.sleep(min(interval, left))
