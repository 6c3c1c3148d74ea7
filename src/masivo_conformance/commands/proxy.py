"""Judge live traffic: a reverse proxy your app or tests point at instead of Masivo.

It serves the upstream's base path: with --upstream https://app.masivo.ai/api/storefront/v1
the app's base URL becomes http://127.0.0.1:8080/api/storefront/v1. Every request and
answer passes unchanged (but hop-by-hop headers and Host); the answer streams back as it
comes. Each exchange is judged as it passes, by `judge`'s own checks: single-call rules
on every answer, and the multi-call rules over the last --window calls of each customer.
A violation is one line at once, on stdout; judging never holds an answer up, and a
judging error is one line on stderr while the exchange still goes through.

With --cassettes DIR the traffic is recorded as redacted vcrpy cassettes (a new file
every 200 exchanges or 4 MiB), which `judge` reads again. With
--report-dir DIR, judge's reports (report.html, summary.md, result.json, junit.xml,
traffic.json) are written every --report-every seconds and when the proxy stops
(Ctrl-C, SIGTERM). Secrets (API keys, tokens, cookies) reach no cassette, report or line.

exit codes (when it stops):
  0  no MUST requirement was violated in the traffic
  1  a MUST requirement was violated
  2  it could not start: a bad --upstream, a port in use, a folder it cannot write
     (one line says what to do)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from masivo_conformance.commands._options import prepare_report_dir, print_written
from masivo_conformance.errors import SettingsError
from masivo_conformance.proxy.upstream import parse_upstream
from masivo_conformance.proxy.windows import CALLS_PER_CUSTOMER
from masivo_conformance.reporting.report import render_matrix

HELP = "a reverse proxy that judges your app's live traffic with the suite's checks"


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of seconds above 0")
    return number


def _window(value: str) -> int:
    if not (value.isdigit() and value.isascii() and int(value) >= 2):
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of calls, 2 or more")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream",
        required=True,
        metavar="URL",
        help="the storefront base URL to forward to, e.g. https://app.masivo.ai/api/storefront/v1",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default 8080; 0: any free)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--cassettes",
        type=Path,
        metavar="DIR",
        help="record the traffic here as redacted vcrpy cassettes (proxy-<start>-NNNN.yaml)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="write report.html, summary.md, result.json, junit.xml and traffic.json here",
    )
    parser.add_argument(
        "--report-every",
        type=_positive,
        metavar="S",
        help="also write the reports (and the open cassette) every S seconds",
    )
    parser.add_argument(
        "--window",
        type=_window,
        default=CALLS_PER_CUSTOMER,
        metavar="N",
        help="calls kept per customer for the multi-call rules "
        f"(default {CALLS_PER_CUSTOMER}; 1000 customers at most, least recent dropped)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=60.0,
        metavar="S",
        help="answer 504 when the upstream sends nothing for S seconds (default 60)",
    )


def execute(args: argparse.Namespace) -> int:
    upstream = parse_upstream(args.upstream)
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port {args.port} is no port", "give 0 to 65535 (0: any free)")
    prepare_report_dir(args.report_dir)
    prepare_report_dir(args.cassettes, flag="--cassettes")
    # Imported here: uvicorn and Starlette load only for the command that serves.
    from masivo_conformance.proxy.live import LiveJudge  # noqa: PLC0415
    from masivo_conformance.proxy.running import Proxy  # noqa: PLC0415

    judge = LiveJudge(
        upstream.url,
        cassettes=args.cassettes,
        report_dir=args.report_dir,
        report_every=args.report_every,
        window=args.window,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        proxy = Proxy(upstream, host=args.host, port=args.port, timeout=args.timeout, judge=judge)
        proxy.start()
        print(f"forwarding to: {upstream.url}", flush=True)
        print(f"your base URL: {proxy.base_url}", flush=True)
        print("violations are printed as they pass; Ctrl-C or SIGTERM stops", flush=True)
        while not stop.wait(0.5):
            pass
        judgement = proxy.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(file=sys.stdout)
    print(render_matrix(judgement.result, args.report_dir), end="", flush=True)
    print_written(judge.written)
    return judgement.result.exit_code()
