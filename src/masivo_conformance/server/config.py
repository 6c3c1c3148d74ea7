"""Settings of one reference-server instance (what `serve` flags and tests choose)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """How to build and run the reference server; the defaults give a correct server.

    `faults` names switches of `faults.FAULTS`; each breaks one requirement on purpose.
    `emit_status`, `validation_status` and `extra_members` let tests prove the suite is
    loose where the contract is loose (any 2xx, any 4xx, unknown members tolerated).
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free port chosen by the OS
    db_path: str | None = None  # None = an in-memory database, gone at stop
    seed_path: Path | None = None  # None = the packaged default seed
    api_key: str | None = None  # None = the seed's key
    processing_delay: float = 0.0  # seconds before a fulfilled emit settles
    faults: frozenset[str] = field(default_factory=frozenset)
    rate_limit: int = 100_000  # requests per window
    rate_window: int = 60  # seconds
    emit_status: int = 201
    validation_status: int = 422
    extra_members: bool = False
