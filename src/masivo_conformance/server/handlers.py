"""The route handlers of one reference server: CONTRACT.md section 2, one method each.

The parsing and validation of any but a small body run in the server's own worker
threads (`off_loop`), so a big body never holds up other clients' answers; so does the
store's work when it waits on the network (PostgreSQL: `stored`). SQLite's work, and a
small body's, take less time than handing them to a thread and back costs every client
(docs/benchmarks.md, "after the hot path"). Atomicity does not depend on the event loop:
every state change is one locked transaction (store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from masivo_conformance.server import bodies, rules
from masivo_conformance.server.auth import Authenticator
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.preview_maths import unknown_reward_ids
from masivo_conformance.server.render import Renderer
from masivo_conformance.server.service import Conflict, Exists, NotFound, Service

__all__ = ["ApiError", "Handlers"]

_REWARD_TYPES = ("POINTS", "DISCOUNT", "GIFT_CARD", "PRODUCT")
_TRANSACTION_TYPES = (
    "ACCUMULATION",
    "REDEMPTION",
    "EXPIRATION",
    "MIGRATION",
    "TRANSFER",
    "REVERSAL",
)
# The query parameters each list operation documents (schemas/openapi.yaml); `date` of
# list_transactions is accepted and not filtered on (docs/decisions.md).
_REWARD_PARAMS = ("from", "to", "brand_id", "type")
_TRANSACTION_PARAMS = ("event_id", "type", "brand_id", "reward_id", "date")
_EMIT_SCHEMA = "emit-event.request.schema.json"
_NO_BRAND = "'brand_id' is a required property"
# Members whose wrong types two EMIT-2 faults let through (JSON paths, `[*]` any index).
_ANY_METADATA = frozenset({"$.metadata"})  # emit_accepts_non_object_metadata
_UNCHECKED_PRODUCT = frozenset(  # emit_accepts_unvalidated_products: all but their redeem
    f"$.order.products[*].{m}"
    for m in ("sku", "amount", "value", "discounted_value", "tags", "metadata")
)
_LONG_ID = 200  # crash_on_long_customer_id: the length its regression chokes on
_LATE_CREDIT = 0.2  # refused_emit_credits_later: seconds until the queue credits anyway
# Bodies up to this size are decoded on the event loop: a valid one takes about 0.05 ms,
# a refused one up to about 5 ms (4 KiB of products with redeems, which python-jsonschema
# walks for its messages), where handing every body to a thread and back costs all the
# clients 0.15-0.45 ms a request (docs/benchmarks.md, "after the hot path").
_SMALL_BODY = 4 * 1024
# Bodies above this size are decoded one at a time (see `decode`). Real requests are
# a few KiB; a 16 KiB body takes at most about 20 ms to check.
_BIG_BODY = 16 * 1024

Handler = Callable[[Request], Awaitable[Response]]
# The faults `_crash_on_raw` switches (issue 18: each guards a GEN-3 probe).
_RAW_CRASHES = frozenset(
    {
        "crash_on_empty_body",
        "crash_on_non_object_body",
        "crash_on_infinite_number",
        "crash_on_lone_surrogate",
    }
)
_FAR_RESERVE_DAYS = 1e6  # crash_on_far_reservation: a reserve beyond any calendar
_HOUR = timedelta(hours=1)


def _holds(value: Any, test: Callable[[Any], bool]) -> bool:
    """Whether `test` holds for `value` or anything inside it."""
    if isinstance(value, dict):
        return any(_holds(v, test) or _holds(k, test) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds(v, test) for v in value)
    return test(value)


def _is_infinite(value: Any) -> bool:
    return isinstance(value, float) and math.isinf(value)


def _has_surrogate(value: Any) -> bool:
    return isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value)


def _moment(text: str) -> datetime | None:
    """issued_at in UTC, or None (rules.issued_at_problem says what is wrong with it)."""
    try:
        moment = datetime.fromisoformat(text.upper())
        return moment.astimezone(UTC) if moment.tzinfo else None
    except (ValueError, OverflowError):  # year 1 with a positive offset overflows in UTC
        return None


P = ParamSpec("P")
T = TypeVar("T")


class ApiError(Exception):
    def __init__(self, status: int, error: str, details: str) -> None:
        super().__init__(details)
        self.status, self.error, self.details = status, error, details


def _now() -> datetime:
    return datetime.now(UTC)


class Handlers:
    def __init__(
        self,
        config: ServerConfig,
        service: Service,
        auth: Authenticator,
        render: Renderer,
        workers: Executor,
    ) -> None:
        self.config = config
        self.workers = workers
        self.service = service
        self.seed = service.seed
        self.auth = auth
        self.render = render
        self.faults = config.faults
        self._background: set[asyncio.Task[None]] = set()
        self._big_bodies = asyncio.Semaphore(1)

    # -- plumbing ---------------------------------------------------------------------

    async def off_loop(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(*args)` in a worker thread, so the event loop keeps answering."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.workers, call)

    async def stored(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(*args)`, one of the service's transactions: in a worker thread when
        the store waits on the network, else here."""
        if self.service.store.remote:
            return await self.off_loop(function, *args, **kwargs)
        return function(*args, **kwargs)

    def endpoint(self, handler: Handler, *, public: bool = False) -> Handler:
        """Authentication, then the handler; domain errors become {error, details}."""

        async def run(request: Request) -> Response:
            try:
                if not public:
                    problem = self.auth.token_problem(request.headers.get("authorization"))
                    if problem:
                        raise ApiError(self.config.auth_status, "Unauthorized", problem)
                return await handler(request)
            except Exception as exc:  # the last line of defence of GEN-3 is in _as_error
                return self.render.error(*self._as_error(exc))

        return run

    def _as_error(self, exc: Exception) -> tuple[int, str, str]:
        """(status, error, details) of an exception; unexpected ones are a 500."""
        if isinstance(exc, ApiError):
            return exc.status, exc.error, exc.details
        if isinstance(exc, bodies.Invalid):
            return self.config.validation_status, "Validation failed", str(exc)
        known: dict[type[Exception], tuple[int, str]] = {
            NotFound: (404, "Not found"),
            Conflict: (409, "Conflict"),
            Exists: (409, "Conflict"),
            bodies.BadBody: (400, "Bad request"),
            bodies.TooLarge: (413, "Payload too large"),
        }
        for kind, (status, error) in known.items():
            if isinstance(exc, kind):
                return status, error, str(exc)
        return 500, "Internal server error", type(exc).__name__

    async def raw_body(self, request: Request) -> bytes:
        """The body, refused with 413 as soon as it is known to be too big."""
        too_large = bodies.TooLarge(f"bodies are limited to {bodies.MAX_BODY_BYTES} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > bodies.MAX_BODY_BYTES:
            raise too_large
        raw = bytearray()  # not bytes: += on bytes copies everything read so far
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > bodies.MAX_BODY_BYTES:
                raise too_large
        return bytes(raw)

    async def decode(
        self,
        raw: bytes,
        schema_file: str,
        empty_is: Any = None,
        ignore: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """`bodies.decode`: on the event loop for a small body, else in a worker thread,
        where big bodies wait for each other first.

        Checking a body under the size limit can still take 0.3 s of pure-Python CPU.
        The event loop needs the GIL back after every system call, and each time it
        waits for a busy thread to let go of it, so every thread checking a big body
        adds to every other client's latency (GET /rewards: about 60 ms worst case
        beside one such thread, over 1 s beside four). One at a time keeps that bound
        whatever the number of clients sending them; only those clients wait longer.
        """
        self._crash_on_raw(raw, empty_is)
        if len(raw) <= _SMALL_BODY:
            return bodies.decode(raw, schema_file, empty_is, ignore)
        if len(raw) <= _BIG_BODY:
            return await self.off_loop(bodies.decode, raw, schema_file, empty_is, ignore)
        async with self._big_bodies:
            return await self.off_loop(bodies.decode, raw, schema_file, empty_is, ignore)

    async def body(
        self,
        request: Request,
        schema_file: str,
        *,
        empty_is: Any = None,
        ignore: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        raw = await self.raw_body(request)
        return await self.decode(raw, schema_file, empty_is, ignore)

    def _crash_on_raw(self, raw: bytes, empty_is: Any) -> None:
        """The GEN-3 regressions on bodies a parser chokes on (issue 18's mutants): each a
        500 where a correct server answers 4xx."""
        if not self.faults & _RAW_CRASHES:
            return
        if not raw.strip():
            if "crash_on_empty_body" in self.faults and empty_is is None:
                raise RuntimeError("an empty body reached the model")
            return
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return
        if "crash_on_non_object_body" in self.faults and isinstance(value, int | float):
            raise RuntimeError("a bare number has no members")
        if "crash_on_infinite_number" in self.faults and _holds(value, _is_infinite):
            raise OverflowError("a number no float holds")
        if "crash_on_lone_surrogate" in self.faults and _holds(value, _has_surrogate):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    def check_brand(self, body: dict[str, Any]) -> None:
        if "brand_id" in body and body["brand_id"] != self.seed.brand_id:
            raise NotFound(f"brand {body['brand_id']!r} does not exist: use {self.seed.brand_id}")

    def check_redeems(self, body: dict[str, Any]) -> None:
        path = rules.zero_redeem_path(body) if self.config.refuse_zero_redeem else None
        if path:
            raise bodies.Invalid(f"{path}: a redeem amount must be above 0")

    # -- operations --------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        key = request.headers.get("x-api-key")
        if not self.auth.key_is_valid(key):
            wrong = "authorize_wrong_key_402" in self.faults and bool(key)
            raise ApiError(
                402 if wrong else self.config.auth_status,
                "Unauthorized",
                "missing or wrong x-api-key header: send the account's API key",
            )
        return self.render.json(200, {"data": self.auth.issue()})

    async def create_customer(self, request: Request) -> Response:
        body = await self.body(request, "create-customer.request.schema.json")
        created = await self.stored(self.service.create_customer, body, _now())
        return self.render.json(self.config.create_status, {"data": created})

    async def get_customer(self, request: Request) -> Response:
        found = await self.stored(self.service.get_customer, request.path_params["id"], _now())
        found["wallet"] = self.render.wallet(found["wallet"])
        return self.render.json(200, {"data": found})

    async def list_rewards(self, request: Request) -> Response:
        query = request.query_params
        bodies.known_params(query.keys(), _REWARD_PARAMS)
        start = bodies.index_param(query.get("from"), "from")
        end = bodies.index_param(query.get("to"), "to")
        kind = bodies.choice_param(query.get("type"), "type", _REWARD_TYPES)
        brand = query.get("brand_id")
        rewards = [
            r.as_json()
            for r in self.seed.rewards
            if kind in (None, r.type) and _offered(r.brand_id, brand)
        ]
        return self.render.json(200, {"data": rewards[start : end + 1]})

    async def list_transactions(self, request: Request) -> Response:
        query = request.query_params
        bodies.known_params(query.keys(), _TRANSACTION_PARAMS)
        filters = {k: query[k] for k in _TRANSACTION_PARAMS[:-1] if k in query}
        bodies.choice_param(filters.get("type"), "type", _TRANSACTION_TYPES)
        bodies.uuid_param(filters.get("reward_id"), "reward_id")
        event_id = filters.get("event_id")
        if "crash_on_bad_event_id_filter" in self.faults and event_id is not None:
            uuid.UUID(event_id)  # the regression: a ValueError, answered 500
        if not ("non_uuid_event_id" in self.faults and (event_id or "").startswith("evt_")):
            bodies.uuid_param(event_id, "event_id")
        found = await self.stored(self.service.list_transactions, filters, _now())
        return self.render.json(200, {"data": [self.render.transaction(t) for t in found]})

    async def emit(self, request: Request) -> Response:
        ignore = frozenset({_NO_BRAND} if "emit_accepts_missing_brand" in self.faults else ())
        if "emit_accepts_non_object_metadata" in self.faults:
            ignore |= _ANY_METADATA
        if "emit_accepts_unvalidated_products" in self.faults:
            ignore |= _UNCHECKED_PRODUCT
        raw = await self.raw_body(request)
        try:
            body = await self.decode(raw, _EMIT_SCHEMA, None, ignore)
        except bodies.Invalid:
            if "refused_emit_credits_later" in self.faults:
                self._credit_later(raw)
            raise
        if "crash_on_long_customer_id" in self.faults and len(body["customer_id"]) > _LONG_ID:
            raise RuntimeError("customer_id does not fit the legacy column")
        reserve = body.get("reserve")
        far = isinstance(reserve, int | float) and reserve > _FAR_RESERVE_DAYS
        if "crash_on_far_reservation" in self.faults and far:
            raise OverflowError("date value out of range")
        self._check_issued_at(body.get("issued_at"))
        self.check_brand(body)
        self.check_redeems(body)
        event = self.render.event(await self.stored(self.service.emit, body, _now()))
        if "emit_bare_event" in self.faults:
            return self.render.json(self.config.emit_status, event)
        return self.render.json(self.config.emit_status, {"data": event})

    def _check_issued_at(self, issued_at: str | None) -> None:
        if issued_at is None:
            return
        if "emit_refuses_zulu_time" in self.faults and (
            issued_at.upper().endswith("Z") or "." in issued_at
        ):
            raise bodies.Invalid("$.issued_at: use the form 2026-01-31T12:00:00+00:00")
        now = _now()
        if "crash_on_year_one_issued_at" in self.faults and issued_at.startswith("0001-"):
            raise OverflowError("date value out of range")
        moment = _moment(issued_at)
        if moment is not None and self._window_regressions(moment, now):
            return
        if "emit_accepts_stale_issued_at" not in self.faults:
            problem = rules.issued_at_problem(issued_at, now)
            if problem:
                raise bodies.Invalid(f"$.issued_at: {problem}")

    def _window_regressions(self, moment: datetime, now: datetime) -> bool:
        """issued_at_window_71_hours and issued_at_last_seconds_future refuse a valid
        issued_at; True when issued_at_window_73_hours accepts one 72 to 73 hours old."""
        oldest = now - rules.MAX_ISSUED_AGE
        if "issued_at_window_71_hours" in self.faults and moment < oldest + _HOUR:
            raise bodies.Invalid("$.issued_at: issued_at is more than 71 hours old")
        if "issued_at_last_seconds_future" in self.faults and moment > now - timedelta(seconds=5):
            raise bodies.Invalid("$.issued_at: issued_at is in the future")
        return "issued_at_window_73_hours" in self.faults and oldest - _HOUR <= moment < oldest

    def _credit_later(self, raw: bytes) -> None:
        """refused_emit_credits_later: an emit refused only for its missing brand_id is
        queued anyway and processed a moment later with the default brand."""
        try:
            body = json.loads(raw)
        except ValueError:
            return
        if not isinstance(body, dict) or "brand_id" in body:
            return
        body["brand_id"] = self.seed.brand_id
        if bodies.problems(_EMIT_SCHEMA, body):
            return

        async def credit() -> None:
            await asyncio.sleep(_LATE_CREDIT)
            # A queue drops what it cannot process: no answer is waiting for this one.
            with contextlib.suppress(Exception):
                await self.stored(self.service.emit, body, _now())

        task = asyncio.create_task(credit())
        self._background.add(task)  # held, so the task is not collected mid-flight
        task.add_done_callback(self._background.discard)

    async def fulfil(self, request: Request) -> Response:
        found = await self.stored(self.service.fulfil, request.path_params["event_id"], _now())
        event = self.render.event(found)
        if "fulfil_answers_unfulfilled" in self.faults:
            event["fulfilled"] = False
        media = "text/plain" if "text_plain_success" in self.faults else None
        return self.render.json(200, {"data": event}, media_type=media)

    async def reverse(self, request: Request) -> Response:
        body = await self.body(request, "reverse-event.request.schema.json", empty_is={})
        if "reason" not in body and "reverse_without_reason_accepted" not in self.faults:
            raise bodies.Invalid("$: 'reason' is required: say why the event is reversed")
        ref, reason = request.path_params["event_id"], body.get("reason")
        decided = None
        if "reverse_not_atomic" in self.faults:
            decided = await self.stored(self.service.reverse_decision, ref, _now())
            await asyncio.sleep(0.05)  # "some work" between the check and the write
        event = await self.stored(self.service.reverse, ref, reason, _now(), decided)
        return self.render.json(200, {"data": self.render.event(event)})

    async def preview(self, request: Request) -> Response:
        ignore = frozenset(
            {"'order' is a required property"}
            if "preview_accepts_missing_order" in self.faults
            else ()
        )
        body = await self.body(request, "preview-order.request.schema.json", ignore=ignore)
        self.check_brand(body)
        self.check_redeems({"order": body.get("order")})
        unknown = unknown_reward_ids(self.seed, body.get("order") or {})
        if unknown and "preview_rejects_unknown_reward" in self.faults:
            raise bodies.Invalid(f"unknown reward id {unknown[0]}")
        if "crash_on_free_level_redeem" in self.faults and _redeems_on_free_product(body):
            raise ZeroDivisionError("float division by zero")
        order = await self.stored(self.service.preview, body, _now())
        _preview_shape_faults(order, self.faults)
        brand_id = "" if "preview_drops_brand_id" in self.faults else body["brand_id"]
        data = {"customer_id": body["customer_id"], "brand_id": brand_id, "order": order}
        return self.render.json(
            201 if "preview_answers_201" in self.faults else 200, {"data": data}
        )


def _offered(reward_brand: str | None, asked_brand: str | None) -> bool:
    """A global reward (no brand) is offered by every brand."""
    return asked_brand is None or reward_brand in (None, asked_brand)


def _redeems_on_free_product(body: dict[str, Any]) -> bool:
    order = body.get("order")
    products = order.get("products") if isinstance(order, dict) else None
    return any(
        isinstance(p, dict) and p.get("redeem") and p.get("value") == 0 for p in products or []
    )


def _preview_shape_faults(order: dict[str, Any], faults: frozenset[str]) -> None:
    """negative_percent_on_free_level (PRV-3) and preview_value_rounded_to_dime (PRV-4):
    wrong numbers in the levels' redemptions_result."""
    levels = [order, order.get("shipping"), *(order.get("products") or [])]
    for level in levels:
        result = level.get("redemptions_result") if isinstance(level, dict) else None
        if not isinstance(result, dict):
            continue
        if "negative_percent_on_free_level" in faults and not level.get("value"):
            result["discount_percent"] = -1.0
        if "preview_value_rounded_to_dime" in faults and isinstance(result.get("value"), float):
            result["value"] = round(result["value"], 1)
