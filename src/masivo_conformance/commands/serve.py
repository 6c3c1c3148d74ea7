"""Run the reference server: a stateful stand-in for the Masivo storefront API.

It serves every operation of the contract under /api/storefront/v1, keeps its state in
SQLite (in memory, or in the file given with --db, which survives restarts), and can
be started with named faults that each break one requirement, to see the suite fail.
Ctrl-C or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType

from masivo_conformance.errors import SettingsError
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.server.faults import FAULTS, check_fault_names
from masivo_conformance.server.store import shown_db
from masivo_conformance.server.workers import WorkerPool
from masivo_conformance.suite.settings import EMBEDDED_SETTLE_TIME

HELP = "run the reference server (a Masivo stand-in with switchable faults)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="where to keep state: a SQLite file, or a PostgreSQL URL (postgresql://user@host/db; "
        "several serve processes, on several machines, may share one). "
        "Default: in memory, lost at exit",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=1,
        help="serve with N processes on one port, sharing --db (needed with N > 1)",
    )
    parser.add_argument(
        "--seed",
        metavar="FILE",
        type=Path,
        help="YAML seed (brand, API key, rewards, campaigns); default: the packaged seed",
    )
    parser.add_argument("--api-key", metavar="KEY", help="API key to accept instead of the seed's")
    parser.add_argument(
        "--processing-delay",
        metavar="SECONDS",
        type=float,
        help="answer fulfilled emits PENDING and settle them this much later "
        "(default 0, or 0.3 with --variant)",
    )
    parser.add_argument(
        "--variant",
        action="store_true",
        help="serve a correct server that differs from the default wherever the contract "
        "allows: other seed and status codes, late settling, split wallet totals, "
        "occasional 429s, ... (docs/decisions.md)",
    )
    parser.add_argument(
        "--fault",
        metavar="NAME",
        action="append",
        default=[],
        help="switch on a fault (repeatable); see --list-faults",
    )
    parser.add_argument(
        "--list-faults",
        action="store_true",
        help="print each fault with the requirements it breaks and what it does, and exit",
    )


def execute(args: argparse.Namespace) -> int:
    if args.list_faults:
        width = max(len(f.name) for f in FAULTS.values())
        for fault in FAULTS.values():
            breaks = ", ".join((fault.requirement, *fault.also))
            print(f"{fault.name:<{width}}  {breaks:<14}  {fault.description}")
        return 0
    config = _config(args)
    if args.workers < 1:
        raise SettingsError("--workers must be at least 1", "give how many processes to serve with")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.workers == 1:
            with EmbeddedServer(config) as server:
                _banner(args, config, server.base_url, server.api_key, server.brand_id)
                while not stop.wait(0.5):
                    pass
        else:
            pool = WorkerPool(config, args.workers).start()
            try:
                _banner(args, config, pool.base_url, pool.api_key, pool.brand_id)
                while not stop.wait(0.5):
                    pool.replace_dead()
            finally:
                pool.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", flush=True)
    return 0


def _banner(
    args: argparse.Namespace, config: ServerConfig, base_url: str, api_key: str, brand_id: str
) -> None:
    # The API key is the user's own (or the seed's demo key); it is printed on purpose so
    # a local user can point the suite at this server.
    print(f"base URL: {base_url}", flush=True)
    print(f"API key:  {api_key}", flush=True)
    print(f"brand id: {brand_id}", flush=True)
    if args.workers > 1:
        print(f"workers:  {args.workers} processes sharing {shown_db(config.db_path)}", flush=True)
    if args.variant:
        print("variant:  on", flush=True)
    if config.faults:
        print(f"faults:   {', '.join(sorted(config.faults))}", flush=True)
    for line in how_to_test(base_url, api_key, brand_id, config):
        print(line, flush=True)
    print("press Ctrl-C to stop", flush=True)


def settle_time_for(config: ServerConfig) -> float:
    """The --settle-time a run against this server needs: its processing delay (effects
    land that long after the answer) plus what the embedded server needs when effects
    land at once. The default 1 s is for real targets; here it only makes runs slower
    (a ci run against a plain `serve`: 89 s with 1 s, 21 s with 0.2 s)."""
    return round(config.processing_delay + EMBEDDED_SETTLE_TIME, 3)


def how_to_test(base_url: str, api_key: str, brand_id: str, config: ServerConfig) -> list[str]:
    """The banner's lines that say how to run the suite against this server, fast."""
    settle = settle_time_for(config)
    command = shlex.join(
        [
            "masivo-conformance",
            "run",
            "--base-url",
            base_url,
            "--api-key",
            api_key,
            "--brand-id",
            brand_id,
            "--settle-time",
            f"{settle:g}",
        ]
    )
    return [
        f"test it:  {command}",
        f"          (--settle-time {settle:g}: effects land {config.processing_delay:g} s after "
        "the answer here; the default 1 s, meant for real targets, makes a run several times "
        "slower)",
    ]


def _config(args: argparse.Namespace) -> ServerConfig:
    """The flags' settings; with --variant, only the flags given replace its settings."""
    fields = {
        "host": args.host,
        "port": args.port,
        "db_path": args.db,
        "api_key": args.api_key,
        "faults": check_fault_names(args.fault),
    }
    if args.seed is not None:
        fields["seed_path"] = args.seed
    if args.processing_delay is not None:
        fields["processing_delay"] = max(0.0, args.processing_delay)
    return ServerConfig.variant(**fields) if args.variant else ServerConfig(**fields)
