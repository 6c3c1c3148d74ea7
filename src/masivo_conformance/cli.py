"""The `masivo-conformance` command: one sub-command per module of `commands/`.

A sub-command module has a docstring (its description), `HELP` (one line),
`add_arguments(parser)` and `execute(args) -> int`. Errors the user can fix are
`MasivoError`s and end as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from masivo_conformance import __version__, commands, contract
from masivo_conformance.errors import EXIT_CANNOT_RUN, MasivoError

PROG = "masivo-conformance"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tell whether a server honours the Masivo storefront API contract.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        contract.check_complete()  # a missing schema file is one clear line, up front
        code: int = args.execute(args)
    except MasivoError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
