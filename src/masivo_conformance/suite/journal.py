"""A small local journal of the events runs created on each real target, so that events an
interrupted run left live can be reversed later (`masivo-conformance cleanup`).

Session teardown reverses what a run left live, but a run killed by CI's timeout, a
Ctrl-C or a lost runner never reaches its teardown. Every event the suite sees is
appended here as it happens, one JSON line per status change, so the journal outlives
the run. Lines are appended with one `write` on a file opened with O_APPEND: pytest-xdist
workers share the file without a lock.

It holds only what cleanup needs, an event id and whether it is still live, and the
target chose both. So an id is kept only when cleanup can use it safely, and otherwise
skipped, with a line that counts it (`skipped()`; `cleanup` says how many):

* 1 to ID_LIMIT (200) characters, each one a URL path segment holds as it is (letters,
  digits and `-._~!$&'()*+,;=:@`; no `/`, `%`, `?`, `#`, blank, control or non-ASCII
  character), and not `.` or `..`: cleanup puts it in `/behavior/events/{id}/reverse`,
  where anything else could reach another path or end up in a terminal;
* unchanged by `scrub.redact_text`: an id that holds the API key or a token (a target
  may echo one) is not written down, and a redacted copy would name no event.

A status is kept when it is a word of capitals (`RESOLVED`, at most 40 characters), else
written as UNKNOWN, which counts as live: cleanup then tries to reverse the event. The
same rules apply on reading, to a journal an older version or a person wrote. Every
line is then short (well under 4 KiB), so one `write` appends it whole.

The journal lives in MASIVO_JOURNAL_DIR, else `$XDG_STATE_HOME/masivo-conformance/journal`
(`~/.local/state/...`): one file per target base URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from masivo_conformance.scrub import redact_text

__all__ = ["FINAL_STATUSES", "ID_LIMIT", "Journal", "journal_dir", "usable_id"]

# GONE is the journal's own: cleanup's reverse was answered 404 or 409, the target has
# the event in a state no reverse can change (reversed by the run just before it was
# killed, failed, unknown): nothing is left to undo (storefront.Storefront.cleanup).
FINAL_STATUSES = frozenset({"REVERSED", "CANCELLED", "FAILED", "EXPIRED", "GONE"})
#: The longest event id the journal keeps (a uuid is 36 characters).
ID_LIMIT = 200
# RFC 3986 `pchar` without percent-encoding: what a path segment carries as it is.
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]+")
_STATUS = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
UNKNOWN = "UNKNOWN"
# Digests of (journal, id) this process skipped: an event is counted once, not once per
# status change. A digest, not the id: the id may hold a secret, and may be long.
_skipped_here: set[bytes] = set()


def usable_id(event_id: object) -> bool:
    """Whether cleanup may keep and later use this event id (see the module's docstring)."""
    return (
        isinstance(event_id, str)
        and len(event_id) <= ID_LIMIT
        and _SEGMENT.fullmatch(event_id) is not None
        and event_id not in (".", "..")
        and redact_text(event_id) == event_id
    )


def _status(status: object) -> str:
    word = str(status).upper()
    return word if _STATUS.fullmatch(word) else UNKNOWN


def journal_dir() -> Path:
    configured = os.environ.get("MASIVO_JOURNAL_DIR")
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "masivo-conformance" / "journal"


@dataclass(frozen=True)
class Journal:
    """The journal of one target."""

    path: Path
    base_url: str

    @classmethod
    def for_target(cls, base_url: str, folder: Path | None = None) -> Journal:
        # Readable and unique: the host for people, a hash for the whole URL.
        host = re.sub(r"[^A-Za-z0-9.-]+", "_", base_url.split("://", 1)[-1].split("/", 1)[0])
        digest = hashlib.sha256(base_url.encode()).hexdigest()[:10]
        return cls((folder or journal_dir()) / f"{host}-{digest}.jsonl", base_url)

    def note(self, event_id: str, status: str) -> None:
        """Append one status change, or count an id cleanup could not use (`usable_id`);
        never raises (a journal must not fail a run)."""
        if usable_id(event_id):
            entry: dict[str, object] = {"event": event_id, "status": _status(status)}
        else:
            seen = f"{self.path}\0{event_id}".encode("utf-8", "replace")
            digest = hashlib.sha256(seen).digest()
            if digest in _skipped_here:
                return
            _skipped_here.add(digest)
            entry = {"skipped": 1}  # nothing of the id: it may hold a secret
        self._append(json.dumps({**entry, "at": time.time()}))

    def _append(self, line: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            return

    def _entries(self) -> tuple[dict[str, str], int]:
        """The last status noted for each usable event, and how many ids were skipped
        (unreadable lines are passed over: a run killed mid-write may leave half a line)."""
        found: dict[str, str] = {}
        skipped = 0
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return found, skipped
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if "skipped" in entry:
                count = entry["skipped"]
                skipped += count if isinstance(count, int) and count > 0 else 0
            elif "event" in entry and "status" in entry:
                if usable_id(entry["event"]):
                    found[entry["event"]] = _status(entry["status"])
                else:
                    skipped += 1
        return found, skipped

    def statuses(self) -> dict[str, str]:
        """The last status noted for each event the journal keeps."""
        return self._entries()[0]

    def skipped(self) -> int:
        """How many event ids were not kept because cleanup could not use them safely."""
        return self._entries()[1]

    def live(self) -> list[str]:
        return [e for e, status in self.statuses().items() if status not in FINAL_STATUSES]

    def compact(self) -> None:
        """Rewrite the journal with live events only (after a cleanup, which has said how
        many ids were skipped: their count goes too)."""
        live = {e: s for e, s in self.statuses().items() if s not in FINAL_STATUSES}
        if not live:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        text = "".join(json.dumps({"event": e, "status": s}) + "\n" for e, s in live.items())
        # Created 0600 from the start, as `note` creates the journal: no moment when
        # another user could read it.
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(self.path)
