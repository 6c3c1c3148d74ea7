"""The last requests this process sent to the target: the suspects when it stops.

A request that crashes a target (a fuzzed path such as `%00%FF` kills some mocks) often
gets no answer itself, or the outage shows only on the next, innocent call. So both HTTP
stacks (suite/bounded.py) note each request as it is sent, and an outage names the last
few, with their curl lines, instead of only the call that found the target gone. One
list per process: an xdist worker names its own requests.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SUSPECTS", "RecentRequests", "Sent", "recent_requests"]

SUSPECTS = 3  # requests an outage names


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    # The curl line is built only for the few requests an outage names.
    reproduce: Callable[[], str] = field(repr=False, compare=False)


class RecentRequests:
    """A short, thread-safe list of the requests sent last, newest last."""

    def __init__(self, size: int = 16) -> None:
        self._sent: deque[Sent] = deque(maxlen=size)
        self._lock = threading.Lock()

    def note(self, method: str, url: str, reproduce: Callable[[], str]) -> None:
        with self._lock:
            self._sent.append(Sent(method.upper(), url, reproduce))

    def last(self, count: int = SUSPECTS) -> list[Sent]:
        """The `count` requests sent last, newest first."""
        with self._lock:
            return list(self._sent)[-count:][::-1]

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()


_RECENT = RecentRequests()


def recent_requests() -> RecentRequests:
    """This process's list."""
    return _RECENT
