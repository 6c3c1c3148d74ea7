"""The proxy's judge: each exchange judged as it passes, by `judge`'s own code
(`reporting.judging.TrafficJudge`), on a thread of its own, so the app never waits on it.

For every exchange, in the order the answers ended: its secrets are registered with
`scrub` (before anything of it is printed or written), it is recorded (recorder.py,
with `--cassettes`), judged by every single-call check and, against its customer's
window (windows.py), by the multi-call rules; each violation is one line at once
(`on_violation`), redacted and cut. A judging error is one line (`on_error`) and the
exchange is counted as not judged; the proxy forwards on. The reports (`judge
--report-dir`'s files) are written every `report_every` seconds and at `close()`.

Memory is bounded whatever the session's length: the windows' bounds; per requirement
its counts and its first `FINDINGS_KEPT` findings (`TrafficJudge(kept=...)`); the open
cassette; and what waits to be judged (at most `MAX_QUEUED_BYTES` of answers: past it an
exchange is forwarded and counted, not judged).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from masivo_conformance.checks.evidence import Finding
from masivo_conformance.console import printable
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.proxy.recorder import CassetteRecorder
from masivo_conformance.proxy.windows import CALLS_PER_CUSTOMER, CustomerWindows
from masivo_conformance.recording.traffic import Exchange, register_secrets
from masivo_conformance.reporting.judge_report import write_judge_reports
from masivo_conformance.reporting.judging import Judgement, TrafficJudge
from masivo_conformance.scrub import excerpt

__all__ = ["FINDINGS_KEPT", "LINE_LIMIT", "MAX_QUEUED_BYTES", "LiveJudge", "violation_line"]

#: Findings kept per requirement (and client findings in all); the rest are counted.
FINDINGS_KEPT = 20
#: Answers waiting to be judged, at most (a burst the judge has not caught up with).
MAX_QUEUED_BYTES = 64 * 1024 * 1024
LINE_LIMIT = 300  # characters of a finding's message in its one line


def violation_line(finding: Finding) -> str:
    """One line for a violation seen live: requirement, level, exchange, message."""
    level = catalogue()[finding.requirement].level if finding.requirement in catalogue() else ""
    message = excerpt(" ".join(finding.message.split()), LINE_LIMIT)
    return printable(
        f"masivo: {finding.requirement} ({level}) violated at {finding.test}: {message}"
    )


def _stdout(line: str) -> None:
    print(line, flush=True)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class LiveJudge:
    """`submit(exchange, breach)` from the forwarding app; `close()` at the end."""

    def __init__(
        self,
        upstream: str,
        *,
        cassettes: Path | None = None,
        report_dir: Path | None = None,
        report_every: float | None = None,
        window: int = CALLS_PER_CUSTOMER,
        on_violation: Callable[[str], None] = _stdout,
        on_error: Callable[[str], None] = _stderr,
    ) -> None:
        self.upstream = upstream
        self.windows = CustomerWindows(calls=window)
        self.judge = TrafficJudge(
            target=f"live traffic through the proxy of {upstream}",
            profile="proxy (live traffic)",
            sequences=self.windows.verdicts,
            kept=FINDINGS_KEPT,
        )
        self.recorder = CassetteRecorder(cassettes) if cassettes is not None else None
        self.report_dir, self.report_every = report_dir, report_every
        self.on_violation, self.on_error = on_violation, on_error
        self.violations: list[str] = []  # the first lines printed, for a summary
        self.violation_count = 0
        self.errors = 0
        self.error_lines: list[str] = []  # the first ones, for a summary
        self.dropped = 0
        self.written: list[Path] = []
        self._count = 0
        self._queue: queue.Queue[tuple[Exchange, str] | None] = queue.Queue()
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="masivo-proxy-judge", daemon=True)
        self._thread.start()

    # -- the forwarding side ----------------------------------------------------------------

    def submit(self, exchange: Exchange, breach: str = "") -> None:
        """Queue an exchange (cheap, never blocks the app's answer)."""
        size = len(exchange.response_text or "") + len(exchange.request_body or b"")
        with self._lock:
            if self._queued_bytes + size > MAX_QUEUED_BYTES:
                self.dropped += 1
                return
            self._queued_bytes += size
        self._queue.put((exchange, breach))

    def drain(self) -> None:
        """Wait until every exchange submitted so far is judged."""
        self._queue.join()

    # -- the judging thread -----------------------------------------------------------------

    def _run(self) -> None:
        due = time.monotonic() + self.report_every if self.report_every else None
        while True:
            wait = None if due is None else max(0.0, due - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:  # nothing came before the next report is due
                pass
            else:
                if item is None:
                    self._queue.task_done()
                    return
                try:
                    self._judge(*item)
                finally:
                    self._queue.task_done()
            if due is not None and time.monotonic() >= due:
                self._report_safely()
                due = time.monotonic() + (self.report_every or 0)

    def _judge(self, exchange: Exchange, breach: str) -> None:
        size = len(exchange.response_text or "") + len(exchange.request_body or b"")
        with self._lock:
            self._queued_bytes -= size
        try:
            request_text = (exchange.request_body or b"").decode("utf-8", errors="replace")
            register_secrets(exchange.url, exchange.request_headers, request_text)
            register_secrets(
                "",
                exchange.response_headers,
                exchange.response_text,
                method=exchange.method,
                answered=exchange.url,
                status=exchange.status,
            )
            self._count += 1
            placed = (
                self.recorder.add(exchange)
                if self.recorder is not None
                else replace(exchange, index=self._count)
            )
            found = self.judge.add(placed, breach)
        except Exception as exc:  # judging never stops the proxy
            self.errors += 1
            self._error(
                f"masivo-conformance proxy: could not judge {exchange.method} "
                f"{excerpt(exchange.url, 200)} (forwarded all the same): "
                f"{type(exc).__name__}: {excerpt(' '.join(str(exc).split()), 200)}"
            )
            return
        for finding in found:
            line = violation_line(finding)
            self.violation_count += 1
            if len(self.violations) < FINDINGS_KEPT:
                self.violations.append(line)
            self.on_violation(line)

    # -- reports ----------------------------------------------------------------------------

    def judgement(self) -> Judgement:
        """The verdicts so far (call from the judging thread, or after `close`)."""
        name = str(self.recorder.folder) if self.recorder is not None else "proxy"
        judgement = self.judge.judgement(live=(name, "proxy"))
        notes = judgement.result.notes
        notes[0] = (
            "each test is one exchange that went through the proxy (FILE#N: its place in "
            "the cassettes written, or proxy#N); exit 0 means no MUST was violated"
        )
        if self.errors:
            notes.append(f"{self.errors} exchange(s) could not be judged (a judging error)")
        if self.dropped:
            notes.append(
                f"{self.dropped} exchange(s) were forwarded but not judged: more than "
                f"{MAX_QUEUED_BYTES // (1024 * 1024)} MiB of answers waited to be judged"
            )
        if self.windows.evicted_customers:
            notes.append(
                f"{self.windows.evicted_customers} customer window(s) were dropped to "
                "bound memory: their earlier calls were no premise of later rules"
            )
        return judgement

    def report(self) -> list[Path]:
        """Flush the open cassette and write the reports; the paths written."""
        written: list[Path] = []
        if self.recorder is not None:
            flushed = self.recorder.flush()
            written += [flushed] if flushed else []
        if self.report_dir is not None:
            written += write_judge_reports(self.judgement(), self.report_dir)
        self.written = sorted(set(self.written) | set(written))
        return written

    def _report_safely(self) -> None:
        try:
            self.report()
        except Exception as exc:  # a full disk must not stop the proxy
            self._error(
                "masivo-conformance proxy: could not write the reports: "
                f"{type(exc).__name__}: {excerpt(' '.join(str(exc).split()), 200)}"
            )

    def _error(self, line: str) -> None:
        line = printable(line)
        if len(self.error_lines) < FINDINGS_KEPT:
            self.error_lines.append(line)
        self.on_error(line)

    def close(self) -> Judgement:
        """Judge what is queued, stop the thread, write the last reports."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._report_safely()
        return self.judgement()
