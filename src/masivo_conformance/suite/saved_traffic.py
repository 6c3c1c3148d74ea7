"""The run's own traffic: every exchange both HTTP stacks (suite/bounded.py) made with
the target, in the order the answers came. When the session ends it is judged as a
recording is (`judged`): the multi-call rules of checks/passive.py, the same functions
`judge` and the proxy run on a team's traffic, over the whole run in its order, one
more outcome of the run. With `run --save-traffic DIR` it is also written as a HAR file
and a vcrpy cassette (recording/exported.py) that `judge` reads, redacted like every
other artefact.

One list per process, as suite/recent.py: each pytest-xdist worker writes files of its
own (`traffic-gw0.har`, ...), so each file keeps one worker's order. What is kept is
bounded: bodies as the suite read them (within checks/limits.py; kept only to be judged,
none over replayer.OBSERVED_LIMIT) and, over the whole run, at most MAX_KEPT_BYTES of
them; past it exchanges are counted, not kept.

Secrets are redacted when the files are written, not when an exchange is noted: a token
is known as a secret only once its authorize answer has been read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.checks.passive import judge_sequence
from masivo_conformance.checks.replayer import OBSERVED_LIMIT
from masivo_conformance.recording.exported import write_exchanges
from masivo_conformance.recording.traffic import Exchange
from masivo_conformance.reporting.judging import call_of
from masivo_conformance.reporting.results import TestOutcome

__all__ = ["MAX_KEPT_BYTES", "TRAFFIC_TEST", "SavedTraffic", "saved_traffic", "worker_name"]

MAX_KEPT_BYTES = 64 * 1024 * 1024
#: The outcome the run's traffic is judged under, beside the tests'.
TRAFFIC_TEST = "the run's traffic, judged as a recording (checks/passive.py)"


class SavedTraffic:
    """The exchanges of this process, while a suite session keeps them (off: noting
    costs one test)."""

    def __init__(self) -> None:
        self.keeping = False
        self.folder: Path | None = None  # where `finish` writes them (None: nowhere)
        self._exchanges: list[Exchange] = []
        self._kept_bytes = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def start(self, folder: Path | None) -> None:
        with self._lock:
            self.keeping, self.folder = True, folder
            self._exchanges, self._kept_bytes, self.dropped = [], 0, 0

    def note(
        self,
        method: str,
        url: str,
        request_headers: list[tuple[str, str]],
        request_body: bytes | None,
        status: int,
        response_headers: list[tuple[str, str]],
        body: bytes,
        span: tuple[float, float],
    ) -> None:
        if not self.keeping:
            return
        if self.folder is None and len(body) > OBSERVED_LIMIT:
            body = b""  # kept only to be judged: no rule of several calls reads so much
        size = len(body) + len(request_body or b"")
        with self._lock:
            if self._kept_bytes + size > MAX_KEPT_BYTES:
                self.dropped += 1
                return
            self._kept_bytes += size
            self._exchanges.append(
                Exchange(
                    source="run",
                    index=len(self._exchanges) + 1,
                    method=method.upper(),
                    url=url,
                    request_headers=tuple(request_headers),
                    request_body=request_body or None,
                    status=status,
                    response_headers=tuple(response_headers),
                    response_text=body.decode("utf-8", errors="replace"),
                    span=span,
                )
            )

    def judged(self, worker: str, *, replayed: bool = False) -> TestOutcome | None:
        """The multi-call rules over this process's traffic, as one outcome (None when
        they judged nothing). Its calls are named as the saved files name them.
        `replayed`: the answers came from cassettes, their Date headers from then."""
        with self._lock:
            exchanges = list(self._exchanges)
        calls, labels, spans = [], [], []
        for exchange in exchanges:
            call = call_of(exchange)
            if call is not None:
                calls.append(call)
                labels.append(f"traffic-{worker}#{exchange.index}")
                spans.append(exchange.span)
        evidence = Evidence()
        for _, verdict in judge_sequence(calls, labels, spans, clock=not replayed):
            evidence.expect(verdict)
        if not evidence.tallies:
            return None
        return TestOutcome(
            f"{TRAFFIC_TEST} ({worker})" if worker != "main" else TRAFFIC_TEST,
            tuple(sorted(evidence.tallies)),
            "failed" if evidence.violations else "passed",
            evidence,
        )

    def finish(self, worker: str) -> list[Path]:
        """Write this process's files (none when it made no request or none were asked
        for) and stop keeping."""
        with self._lock:
            folder, exchanges, dropped = self.folder, self._exchanges, self.dropped
            self.keeping, self.folder, self._exchanges = False, None, []
        if folder is None or not exchanges:
            return []
        comment = (
            f"{dropped} later exchange(s) not kept: the run's traffic is kept up to "
            f"{MAX_KEPT_BYTES // 1024 // 1024} MiB of bodies"
            if dropped
            else ""
        )
        return write_exchanges(exchanges, folder, f"traffic-{worker}", comment)


_SAVED = SavedTraffic()


def saved_traffic() -> SavedTraffic:
    """This process's list."""
    return _SAVED


def worker_name() -> str:
    """`gw0`... in a pytest-xdist worker, `main` otherwise."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")
