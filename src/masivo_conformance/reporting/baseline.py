"""Known deviations (`run --baseline FILE`): failures a team has reported upstream and
accepts for now, so that a run against a real account fails only on what is new.

    accepted:
      - requirement: GEN-5
        reason: "rate-limit headers missing upstream, ticket MAS-123"
        expires: 2027-01-31   # optional: from this date on the failure counts again

An entry turns a failure into **accepted** (with its reason) and nothing else into
anything; notes say which entries expired or are no longer needed, to keep the file honest.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import SettingsError
from masivo_conformance.reporting.results import RequirementResult

__all__ = ["Baseline", "Entry", "load_baseline"]

_ENTRY_KEYS = ("requirement", "reason", "expires")


@dataclass(frozen=True)
class Entry:
    requirement: str
    reason: str
    expires: date | None = None  # the first day on which the entry no longer applies

    def expired(self, today: date) -> bool:
        return self.expires is not None and today >= self.expires


@dataclass(frozen=True)
class Baseline:
    path: Path
    entries: dict[str, Entry]  # requirement id -> its entry, in file order

    def apply(
        self, rows: list[RequirementResult], today: date
    ) -> tuple[list[RequirementResult], list[str]]:
        """The rows with every failure the baseline still accepts marked `accepted`, and
        notes on entries that expired, are no longer needed or were not exercised."""
        judged = [self._judge(row, today) for row in rows]
        return [row for row, _ in judged], [note for _, note in judged if note]

    def _judge(self, row: RequirementResult, today: date) -> tuple[RequirementResult, str]:
        entry = self.entries.get(row.id)
        if entry is None:
            return row, ""
        if row.status == "pass":
            return row, f"{row.id} passes now: remove it from {self.path}"
        if row.status == "not checked":
            return row, f"{row.id} in {self.path} was not checked in this run: entry not used"
        if row.status != "fail":
            return row, ""
        if entry.expired(today):
            return row, (
                f"{row.id} in {self.path} expired on {entry.expires}: its failure counts "
                "again; renew or remove the entry"
            )
        return replace(row, status="accepted", reason=entry.reason), ""


def _problem(path: Path, what: str, todo: str) -> SettingsError:
    return SettingsError(f"baseline file {path}: {what}", todo)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"baseline file {path} not found", "create it or pass --baseline with the right path"
        ) from None
    except OSError as exc:
        raise SettingsError(
            f"cannot read baseline file {path} ({exc.strerror})", "pass a readable YAML file"
        ) from None
    except UnicodeDecodeError:
        raise SettingsError(f"baseline file {path} is not UTF-8 text", "save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SettingsError(
            f"baseline file {path} is not valid YAML{where}", "fix the YAML syntax"
        ) from None
    except ValueError as exc:  # a date YAML recognises but the calendar does not: 2027-02-30
        raise _problem(path, f"an expires date is not a real date ({exc})", "fix it") from None


def _expires(path: Path, label: str, value: Any) -> date | None:
    if isinstance(value, str):
        with suppress(ValueError):
            value = date.fromisoformat(value.strip())
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    raise _problem(path, f"{label}: expires {value!r} is not a date", "write it as YYYY-MM-DD")


def _entry(path: Path, number: int, raw: Any) -> Entry:
    label = f"entry {number}"
    if not isinstance(raw, dict):
        raise _problem(path, f"{label} is not a mapping", "give it requirement: and reason: keys")
    unknown = sorted(str(k) for k in raw if k not in _ENTRY_KEYS)
    if unknown:
        raise _problem(path, f"{label} has unknown keys {unknown}", f"use only {list(_ENTRY_KEYS)}")
    requirement = raw.get("requirement")
    if not isinstance(requirement, str) or not requirement.strip():
        raise _problem(path, f"{label} has no requirement id", "add requirement: ID, e.g. GEN-5")
    requirement = requirement.strip().upper()  # ids are case-insensitive: rev-2 is REV-2
    label = f"{label} ({requirement})"
    if requirement not in catalogue():
        todo = "use an id that `masivo-conformance requirements` lists"
        raise _problem(path, f"{label}: unknown requirement id", todo)
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        todo = "add reason: with why it is accepted (e.g. a ticket)"
        raise _problem(path, f"{label} has no reason", todo)
    return Entry(requirement, " ".join(reason.split()), _expires(path, label, raw.get("expires")))


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file; any problem is one SettingsError naming the file and the fix."""
    document = _read(path)
    if not isinstance(document, dict) or not isinstance(document.get("accepted"), list):
        todo = "write 'accepted:' followed by '- requirement: ID' entries, each with a reason"
        raise _problem(path, "no 'accepted' list", todo)
    unknown = sorted(str(k) for k in document if k != "accepted")
    if unknown:
        raise _problem(path, f"unknown top-level keys {unknown}", "use only 'accepted'")
    entries: dict[str, Entry] = {}
    for number, raw in enumerate(document["accepted"], start=1):
        entry = _entry(path, number, raw)
        if entry.requirement in entries:
            what = f"{entry.requirement} is listed more than once"
            raise _problem(path, what, "keep one entry per requirement")
        entries[entry.requirement] = entry
    return Baseline(path, entries)
