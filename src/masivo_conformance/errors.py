"""Errors that end a command with one clear line instead of a traceback.

Exit codes are part of the interface (see README): 0 conformant, 1 a MUST failed (or
breaking drift), 2 the run could not happen (or the target stopped answering mid-run),
3 inconclusive (nothing failed, but a MUST was not checked or a test erred). Every
`MasivoError` maps to 2.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NONCONFORMANT = 1
EXIT_CANNOT_RUN = 2
EXIT_INCONCLUSIVE = 3


class MasivoError(Exception):
    """A problem the user can fix; `str()` says what is wrong and what to do."""

    exit_code = EXIT_CANNOT_RUN

    def __init__(self, what: str, todo: str = "") -> None:
        super().__init__(f"{what}: {todo}" if todo else what)
        self.what = what
        self.todo = todo


class SettingsError(MasivoError):
    """Flags, environment variables or the targets file are wrong."""


class ContractDataError(MasivoError):
    """A schema, the OpenAPI document or the requirement catalogue is missing or broken."""


class TargetError(MasivoError):
    """The target cannot be reached or refuses our credentials."""


class CassetteError(MasivoError):
    """A cassette is missing, corrupt or truncated."""


class TargetStopped(TargetError):
    """The target answered earlier in the run and no longer does (a probe failed too).

    `suspects` are the curl lines of the last requests sent before it went silent,
    newest first: the one that killed it is most likely among them.
    """

    def __init__(self, what: str, todo: str = "", suspects: tuple[str, ...] = ()) -> None:
        super().__init__(what, todo)
        self.suspects = suspects


class NoAnswer(TargetError):
    """One request got no answer (timeout, broken connection) while the target still
    answers others: an error of the test that sent it, not an outage."""
