"""Command-line options shared by the commands that talk to a target."""

from __future__ import annotations

import argparse
from pathlib import Path

from masivo_conformance.settings import Settings, resolve
from masivo_conformance.target import Target


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target (flags win over MASIVO_* variables and the targets file)"
    )
    group.add_argument(
        "--base-url",
        help="target base URL (env MASIVO_BASE_URL); default: the embedded reference server",
    )
    group.add_argument("--api-key", help="API key (env MASIVO_API_KEY)")
    group.add_argument("--token", help="ready bearer token (env MASIVO_TOKEN)")
    group.add_argument("--brand-id", help="brand id (env MASIVO_BRAND_ID)")
    group.add_argument(
        "--targets-file",
        type=Path,
        help="YAML file of named targets (default ./masivo-targets.yaml)",
    )
    group.add_argument("--target", help="name of a target in the targets file")
    group.add_argument(
        "--allow-writes",
        action="store_true",
        default=None,
        help="allow writes against a host that is not loopback",
    )
    group.add_argument("--timeout", type=float, help="seconds per HTTP request (default 10)")


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


def settings_from_args(args: argparse.Namespace, **extra: object) -> Settings:
    flags = {
        "base_url": args.base_url,
        "api_key": args.api_key,
        "token": args.token,
        "brand_id": args.brand_id,
        "allow_writes": args.allow_writes,
        "timeout": args.timeout,
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
