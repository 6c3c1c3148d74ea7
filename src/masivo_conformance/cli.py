"""The `masivo-conformance` command: one sub-command per module of `commands/`.

A sub-command module has a docstring (its description), `HELP` (one line),
`add_arguments(parser)` and `execute(args) -> int`. Errors the user can fix are
`MasivoError`s and end as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import pkgutil
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from masivo_conformance import __version__, commands, contract
from masivo_conformance.console import safe_output
from masivo_conformance.errors import EXIT_CANNOT_RUN, MasivoError
from masivo_conformance.scrub import excerpt

PROG = "masivo-conformance"


def version_text() -> str:
    """This package's version, the contract data's (info.version of the OpenAPI document
    it checks against) and schemathesis's (what generates the fuzz cases)."""
    try:
        document = yaml.safe_load(contract.openapi_path().read_text(encoding="utf-8"))
        data = str(document["info"]["version"])
    except (MasivoError, OSError, yaml.YAMLError, KeyError, TypeError):
        data = "unreadable"  # `--version` still answers; any command says what is wrong
    schemathesis = importlib.metadata.version("schemathesis")
    return f"{PROG} {__version__} (contract data {data}, schemathesis {schemathesis})"


class _VersionAction(argparse.Action):
    """`--version`, read when asked (not on every start: it parses the OpenAPI document)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_text())  # on stdout, as argparse's own version action
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse prints its usage block before a usage error; here the error is one line
    with what to do, like every other error of the command (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_CANNOT_RUN,
            f"{PROG}: error: {message}: see '{self.prog} --help'\n",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Tell whether a server honours the Masivo storefront API contract.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the versions of this package, its contract data and schemathesis",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        sub = subparsers.add_parser(
            info.name.replace("_", "-"),
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(execute=module.execute)
    return parser


def keep_hypothesis_out_of_cwd(env: MutableMapping[str, str] = os.environ) -> None:
    """Hypothesis keeps a cache (`.hypothesis/`, constants of the modules it reads) in the
    working folder unless HYPOTHESIS_STORAGE_DIRECTORY names another: the command names
    `$XDG_CACHE_HOME/masivo-conformance/hypothesis` (`~/.cache/...`), so a run leaves
    nothing in the folder it ran in. Set in the environment, pytest-xdist workers inherit
    it; a value the user set is kept. The run's examples are never stored (profiles.py:
    database None)."""
    if env.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(Path(cache) / PROG / "hypothesis")


#: The longest error line the command prints; a target's text inside is cut to fit.
ERROR_LINE_LIMIT = 1000


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; everything it prints goes through `console.SafeStream`."""
    with safe_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    keep_hypothesis_out_of_cwd()
    try:
        contract.check_complete()  # a missing schema file is one clear line, up front
        code: int = args.execute(args)
    except MasivoError as exc:
        # One line: a target's text in the message may hold newlines of its own.
        line = excerpt(" ".join(str(exc).split()), ERROR_LINE_LIMIT)
        print(f"{PROG}: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except BrokenPipeError:
        # Whoever read the output went away (`| head`). Python would fail again flushing
        # stdout at exit: point it at devnull, and say once, on stderr, what happened.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(
            f"{PROG}: error: the output pipe closed before the command ended: keep the "
            "results with --report-dir, or send the output to a file",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
