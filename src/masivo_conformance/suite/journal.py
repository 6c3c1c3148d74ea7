"""A small local journal of the events runs created on each real target, so that events an
interrupted run left live can be reversed later (`masivo-conformance cleanup`).

Session teardown reverses what a run left live, but a run killed by CI's timeout, a
Ctrl-C or a lost runner never reaches its teardown. Every event the suite sees is
appended here as it happens, one JSON line per status change, so the journal outlives
the run. Lines are appended with one `write` on a file opened with O_APPEND: pytest-xdist
workers share the file without a lock. It holds event ids and statuses, never a
credential.

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

__all__ = ["FINAL_STATUSES", "Journal", "journal_dir"]

FINAL_STATUSES = frozenset({"REVERSED", "CANCELLED", "FAILED", "EXPIRED"})


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
        """Append one status change; never raises (a journal must not fail a run)."""
        line = json.dumps({"event": event_id, "status": status.upper(), "at": time.time()})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            return

    def statuses(self) -> dict[str, str]:
        """The last status noted for each event (unreadable lines are skipped: a run
        killed mid-write may leave half a line)."""
        found: dict[str, str] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return found
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                found[str(entry["event"])] = str(entry["status"])
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def live(self) -> list[str]:
        return [e for e, status in self.statuses().items() if status not in FINAL_STATUSES]

    def compact(self) -> None:
        """Rewrite the journal with live events only (after a cleanup)."""
        live = {e: s for e, s in self.statuses().items() if s not in FINAL_STATUSES}
        if not live:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            "".join(json.dumps({"event": e, "status": s}) + "\n" for e, s in live.items()),
            encoding="utf-8",
        )
        tmp.chmod(0o600)
        tmp.replace(self.path)
