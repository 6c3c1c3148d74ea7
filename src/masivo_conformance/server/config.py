"""Settings of one reference-server instance (what `serve` flags and tests choose)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from masivo_conformance.server.seed import VARIANT_SEED

__all__ = ["JSON", "VARIANT_JSON", "ServerConfig"]

JSON = "application/json"
# Media types are case-insensitive and may carry parameters (RFC 9110 8.3.1).
VARIANT_JSON = "Application/JSON; charset=utf-8"


@dataclass(frozen=True)
class ServerConfig:
    """How to build and run the reference server; the defaults give a correct server.

    `faults` names switches of `faults.FAULTS`; each breaks one requirement on purpose.
    The other switches (status codes, `extra_members`, `async_effects`, ...) keep the
    server correct but change what the contract leaves open, so tests can prove the
    suite is loose where the contract is loose. `variant()` turns all of them on.
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
    create_status: int = 201  # create_customer
    auth_status: int = 401  # a refused bearer token, or authorize without the right key
    refulfil_answers_event: bool = False  # re-fulfil: 200 with the unchanged event, not 409
    async_effects: bool = False  # processing_delay also delays fulfil, reverse and cancel
    split_totals: bool = False  # one wallet total per (reward, event) instead of per reward
    newest_first: bool = False  # list_transactions from the newest to the oldest
    throttle_every: int = 0  # every Nth request answers 429 (0 = never)
    refuse_zero_redeem: bool = False  # a redeem amount of 0 is a validation error
    transactions_without_event_id: bool = False  # transactions are shown without event_id
    success_media_type: str = JSON  # Content-Type of 2xx answers
    keep_alive_timeout: int = 5  # seconds an idle keep-alive connection stays open
    header_timeout: float = 10.0  # seconds to send a request line and headers
    body_timeout: float = 20.0  # seconds to send a body once its headers are in; then 408
    # Open connections; one more closes the longest-idle one, or gets 503 if all are
    # answering. Lowered to what the open-file limit (ulimit -n) can hold.
    max_connections: int = 256
    # Share the port with other processes (SO_REUSEPORT): `serve --workers`, one
    # process per worker, the kernel spreading the connections (server/workers.py).
    reuse_port: bool = False

    @classmethod
    def variant(cls, **overrides: Any) -> ServerConfig:
        """A correct server that differs from the default wherever the contract allows
        (docs/decisions.md, "The variant target"); `overrides` replace single fields."""
        chosen: dict[str, Any] = {
            "seed_path": VARIANT_SEED,
            "emit_status": 200,
            "validation_status": 400,
            "extra_members": True,
            "processing_delay": 0.3,
            "create_status": 200,
            "auth_status": 403,
            "refulfil_answers_event": True,
            "async_effects": True,
            "split_totals": True,
            "newest_first": True,
            "throttle_every": 37,
            "refuse_zero_redeem": True,
            "transactions_without_event_id": True,
            "success_media_type": VARIANT_JSON,
        }
        return cls(**{**chosen, **overrides})
