"""Command-line options shared by the commands that talk to a target."""

from __future__ import annotations

import argparse
from pathlib import Path

from masivo_conformance.errors import SettingsError
from masivo_conformance.reporting.report import REPRODUCER_DIR
from masivo_conformance.suite.settings import TARGET_FLAGS, Settings, add_target_options, resolve
from masivo_conformance.suite.sharding import Shard
from masivo_conformance.suite.target import Target


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target (flags win over MASIVO_* variables and the targets file)"
    )
    add_target_options(group.add_argument)


RUN_REPORT_FILES = (
    "report.html, summary.md, result.json, junit.xml and reproducers/ (curl lines too long to show)"
)


def add_output_arguments(parser: argparse.ArgumentParser, files: str = RUN_REPORT_FILES) -> None:
    parser.add_argument("--report-dir", type=Path, help=f"write {files} here")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    noise.add_argument(
        "-v", "--verbose", action="store_true", help="print every test and full failure details"
    )


def print_written(paths: list[Path], *, quiet: bool = False) -> None:
    """`wrote PATH` for every file a command wrote, but reproducer scripts, counted in one
    line (a failing fuzz run may write dozens)."""
    if quiet:
        return
    scripts = [p for p in paths if p.parent.name == REPRODUCER_DIR]
    for path in paths:
        if path not in scripts:
            print(f"wrote {path}")
    if scripts:
        print(f"wrote {len(scripts)} reproducer(s) in {scripts[0].parent}")


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


def requirement_id(value: str) -> str:
    """argparse type of a requirement id the user types: case-insensitive (rev-2 is REV-2);
    the catalogue says which ids exist."""
    return value.strip().upper()


def worker_count(value: str) -> str:
    """argparse type of -n: 'auto' or a whole number >= 0 (0: no workers, as in pytest-xdist)."""
    if value == "auto" or (value.isdigit() and value.isascii()):
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a worker count: give 'auto' or a number >= 0 (0: no workers)"
    )


def shard_of(value: str) -> Shard:
    """argparse type of --shard: I/N, 1 <= I <= N."""
    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def settings_from_args(args: argparse.Namespace, **extra: object) -> Settings:
    """The run's settings, resolved once: commands hand this object on as it is."""
    flags = {**{name: getattr(args, name) for name in TARGET_FLAGS}, **extra}
    return resolve(flags, targets_file=args.targets_file, target=args.target)


def describe(settings: Settings, target: Target | None = None) -> str:
    if settings.embedded:
        return "embedded reference server"
    return target.base_url if target else str(settings.base_url)
