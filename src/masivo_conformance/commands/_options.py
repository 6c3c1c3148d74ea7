"""Command-line options shared by the commands that talk to a target."""

from __future__ import annotations

import argparse
from pathlib import Path

from masivo_conformance.errors import SettingsError
from masivo_conformance.suite.settings import TARGET_FLAGS, Settings, add_target_options, resolve
from masivo_conformance.suite.target import Target


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target (flags win over MASIVO_* variables and the targets file)"
    )
    add_target_options(group.add_argument)
    group.add_argument("--timeout", type=float, help="seconds per HTTP request (default 10)")
    group.add_argument(
        "--settle-time",
        type=float,
        help="seconds to wait for late effects, after which an event that listed no "
        "transaction counts as settled (default 1; CONTRACT section 2)",
    )
    group.add_argument(
        "--settle-timeout",
        type=float,
        help="longest wait for a fulfilled event to list its transactions once an "
        "identical one has (default 10): past it the event has not settled (EMIT-4)",
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="write report.html, summary.md, result.json and junit.xml here",
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    noise.add_argument(
        "-v", "--verbose", action="store_true", help="print every test and full failure details"
    )


def prepare_report_dir(path: Path | None, flag: str = "--report-dir") -> None:
    """Create the report folder up front, so a bad path fails before anything runs."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise SettingsError(
            f"{flag} folder {path} is a file",
            "give the path of a folder (it is created if missing)",
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"cannot create the {flag} folder {path} ({exc.strerror})",
            f"give a {flag} path in a writable place",
        ) from None


def worker_count(value: str) -> str:
    """argparse type of -n: 'auto' or a whole number >= 0 (0: no workers, as in pytest-xdist)."""
    if value == "auto" or (value.isdigit() and value.isascii()):
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a worker count: give 'auto' or a number >= 0 (0: no workers)"
    )


def settings_from_args(args: argparse.Namespace, **extra: object) -> Settings:
    flags = {
        **{name: getattr(args, name) for name in TARGET_FLAGS},
        "timeout": args.timeout,
        "settle_time": getattr(args, "settle_time", None),
        "settle_timeout": getattr(args, "settle_timeout", None),
        **extra,
    }
    return resolve(flags, targets_file=args.targets_file, target=args.target)


def pytest_target_args(settings: Settings) -> list[str]:
    """The plugin options that point a pytest run at the same target."""
    args: list[str] = []
    pairs = [
        ("--base-url", settings.base_url),
        ("--api-key", settings.api_key),
        ("--token", settings.token),
        ("--brand-id", settings.brand_id),
        ("--timeout-s", settings.timeout),
        ("--settle-time", settings.settle_time),
        ("--settle-timeout", settings.settle_timeout),
        ("--max-requests", settings.max_requests),
        ("--seed", settings.seed),
    ]
    for flag, value in pairs:
        if value is not None:
            args += [flag, str(value)]
    if settings.allow_writes:
        args.append("--allow-writes")
    return args


def describe(settings: Settings, target: Target | None = None) -> str:
    if settings.embedded:
        return "embedded reference server"
    return target.base_url if target else str(settings.base_url)
