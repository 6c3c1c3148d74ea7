"""Turning results into HTTP answers: JSON bodies, error bodies, and the faults that
only change how a correct result is shown (never what is stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

from masivo_conformance.server.config import JSON, ServerConfig

__all__ = ["Renderer"]

_EVENT_TIMES = (
    "issued_at",
    "processing_at",
    "resolved_at",
    "cancelled_at",
    "expired_at",
    "reversed_at",
)
_EXTRA = "x_reference_server"  # the unknown member `extra_members` adds to every object


class Renderer:
    def __init__(self, config: ServerConfig) -> None:
        self.faults = config.faults
        self.extra_members = config.extra_members
        self.success_media_type = config.success_media_type
        self.drop_event_id = (
            config.transactions_without_event_id
            or "reversal_unlisted_without_event_id" in config.faults
        )

    def json(self, status: int, body: Any, media_type: str | None = None) -> Response:
        if self.extra_members:
            body = _with_extra(body)
        # orjson: a tenth of json.dumps's time, on every answer (docs/benchmarks.md).
        content = orjson.dumps(body)
        if media_type is None:
            media_type = self.success_media_type if 200 <= status < 300 else JSON
        # Set as a header, not `media_type`: Starlette would append a second charset.
        return Response(content, status_code=status, headers={"content-type": media_type})

    def error(self, status: int, error: str, details: str) -> Response:
        if 400 <= status < 500 and "error_body_message_only" in self.faults:
            return self.json(status, {"message": f"{error}: {details}"})
        return self.json(status, {"error": error, "details": details})

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        if "resolved_without_resolved_at" in self.faults and event.get("status") == "RESOLVED":
            event["resolved_at"] = None
        if "lowercase_status" in self.faults:
            event["status"] = event["status"].lower()
        if "epoch_timestamps" in self.faults:
            for key in _EVENT_TIMES:
                if event.get(key):
                    event[key] = datetime.fromisoformat(event[key]).timestamp()
        if "naive_timestamps" in self.faults:
            for key in _EVENT_TIMES:
                if event.get(key):
                    event[key] = event[key].removesuffix("Z")  # UTC, but no longer says so
        result = event.get("result") or {}
        if "transactions" in result:
            result["transactions"] = [self.transaction(t) for t in result["transactions"]]
        if "wallet" in result:
            result["wallet"] = self.wallet(result["wallet"])
        return event

    def transaction(self, transaction: dict[str, Any]) -> dict[str, Any]:
        if "amount_as_string" in self.faults:
            transaction["amount"] = f"{transaction['amount']:g}"
        if "transaction_missing_type" in self.faults:
            transaction.pop("type", None)
        if self.drop_event_id:
            transaction.pop("event_id", None)
        return transaction

    def wallet(self, wallet: dict[str, Any]) -> dict[str, Any]:
        if "wallet_totals_object" in self.faults:
            wallet["totals"] = {t["reward_id"]: t["total"] for t in wallet["totals"]}
        return wallet


def _with_extra(value: Any) -> Any:
    if isinstance(value, dict):
        return {**{k: _with_extra(v) for k, v in value.items()}, _EXTRA: "ignore me"}
    if isinstance(value, list):
        return [_with_extra(v) for v in value]
    return value
