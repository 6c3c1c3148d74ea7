"""The last requests this process sent to the target: the suspects when it stops.

A request that crashes a target (a fuzzed path such as `%00%FF` kills some mocks) often
gets no answer itself, or the outage shows only on the next, innocent call. So both HTTP
stacks (suite/bounded.py) note each request as it is sent, and an outage names the last
few, with their curl lines, instead of only the call that found the target gone. One
list per process: an xdist worker names its own requests.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SUSPECTS", "RecentRequests", "Sent", "recent_requests"]

SUSPECTS = 3  # requests an outage names, per sender
MAX_SENDERS = 4  # senders whose requests an outage names (the default --concurrency)


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    # The curl line is built only for the few requests an outage names.
    reproduce: Callable[[], str] = field(repr=False, compare=False)
    thread: int = 0  # who sent it: overlapping scenarios each send their own
    order: int = 0


class RecentRequests:
    """A short, thread-safe list of the requests sent last, newest last, and the last of
    them that got an answer."""

    def __init__(self, size: int = 64) -> None:
        self._sent: deque[Sent] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._count = itertools.count()
        self._last_answered = -1

    def note(self, method: str, url: str, reproduce: Callable[[], str]) -> Sent:
        with self._lock:
            sent = Sent(method.upper(), url, reproduce, threading.get_ident(), next(self._count))
            self._sent.append(sent)
            return sent

    def answered(self, sent: Sent) -> None:
        with self._lock:
            self._last_answered = max(self._last_answered, sent.order)

    def last(self, count: int = SUSPECTS) -> list[Sent]:
        """The suspects, newest first: the `count` requests each sender (a scenario, when
        scenarios overlap) sent last, up to the last one that got an answer and the first
        sent after it. Whatever was sent later found the target gone already. At most
        `count` x MAX_SENDERS."""
        with self._lock:
            cut = self._last_answered
            after = [s for s in self._sent if s.order > cut][:1]
            window = [s for s in self._sent if s.order <= cut] + after
        kept: list[Sent] = []
        for thread in dict.fromkeys(s.thread for s in window):
            kept += [s for s in window if s.thread == thread][-count:]
        return sorted(kept, key=lambda s: s.order, reverse=True)[: count * MAX_SENDERS]

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()
            self._last_answered = -1


_RECENT = RecentRequests()


def recent_requests() -> RecentRequests:
    """This process's list."""
    return _RECENT
