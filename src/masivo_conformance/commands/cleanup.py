"""Reverse the events that earlier runs left live on a target.

A run reverses what it created at its end; a run that was interrupted (CI timeout,
Ctrl-C, a lost runner) never got there. Every run against a real target writes the
events it sees to a local journal (MASIVO_JOURNAL_DIR, else
$XDG_STATE_HOME/masivo-conformance/journal), and this command reverses those still live,
with the reason "masivo-conformance cleanup". Events the target refuses to reverse stay
in the journal and are named. Events whose ids the journal could not keep (too long, or
holding a secret or characters a URL path cannot carry: suite/journal.py) are counted,
never named. Exit 0 when nothing is left live, 1 when some are, 2 when the target cannot
be used.
"""

from __future__ import annotations

import argparse

from masivo_conformance import scrub
from masivo_conformance.commands._options import add_target_arguments, settings_from_args
from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK, SettingsError
from masivo_conformance.suite.connection import Connection
from masivo_conformance.suite.journal import ID_LIMIT, Journal
from masivo_conformance.suite.storefront import EventLog, IdFactory
from masivo_conformance.suite.target import Target, checked

HELP = "reverse the events earlier (interrupted) runs left live on a target"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if settings.embedded or settings.base_url is None:
        raise SettingsError(
            "cleanup needs a target (the embedded server keeps nothing between runs)",
            "give --base-url, MASIVO_BASE_URL or --target",
        )
    journal = Journal.for_target(settings.base_url)
    live = journal.live()
    skipped = journal.skipped()
    if skipped:
        print(
            f"cleanup: {skipped} event(s) that runs saw on {settings.base_url} are not in the "
            "journal: their ids were unusable (longer than "
            f"{ID_LIMIT} characters, or holding a secret or characters a URL path cannot "
            "carry); check that target for events left live"
        )
    if not live:
        journal.compact()  # the skipped count has been said once
        print(f"cleanup: nothing left live on {settings.base_url} (journal {journal.path})")
        return EXIT_OK
    settings = checked(settings)  # reachable, credentials accepted, brand known
    target = Target(
        settings.base_url or "",
        settings.brand_id or "",
        api_key=settings.api_key,
        token=settings.token,
    )
    events = EventLog(statuses=dict.fromkeys(live, "UNKNOWN"), journal=journal)
    connection = Connection.open(settings, target, events=events)
    try:
        # Reversing what the suite created is what was asked: writes allowed.
        storefront = connection.storefront(
            IdFactory("cleanup"), writes_allowed=True, settle_time=0.0
        )
        left = storefront.cleanup()
    finally:
        connection.close()
    journal.compact()
    print(
        f"cleanup: reversed {len(live) - len(left)} of {len(live)} live events on "
        f"{settings.base_url}"
        + (
            f"; still live (kept in {journal.path}): "
            + "; ".join(scrub.excerpt(f"{e} ({why})") for e, why in left.items())
            + ". Run this command again later; if the target keeps refusing, reverse them"
            " from Masivo's dashboard"
            if left
            else f" (journal {journal.path})"
        )
    )
    return EXIT_NONCONFORMANT if left else EXIT_OK
