"""Named regressions the reference server can be started with, to prove the suite sees them.

Each fault is a small, realistic bug that breaks exactly one requirement of the
catalogue (its `requirement`) and nothing else (but the ones it names in `also`). A
server is started with a set of fault names (`ServerConfig.faults`, `serve --fault NAME`),
checked here by `check_fault_names`; each server object that may misbehave keeps that
set, and the code path a fault breaks tests its name as a string literal, next to the
correct behaviour: `if "double_reverse_accepted" in self.faults:` (or lists names in a
set it tests, as handlers.py's `_RAW_CRASHES`). `masivo-conformance requirements --map`
finds those places by that literal. With no fault switched on the server is conformant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from masivo_conformance.errors import SettingsError

__all__ = ["FAULTS", "Fault", "check_fault_names"]


@dataclass(frozen=True)
class Fault:
    name: str
    requirement: str
    description: str
    # Other requirements the same bug legitimately breaks as well (the fault matrix
    # allows exactly these beside `requirement`, and no other MUST).
    also: tuple[str, ...] = ()


_ALL = (
    Fault("emit_bare_event", "GEN-1", "emit answers the Event at the top level, without `data`"),
    Fault("text_plain_success", "GEN-1", "fulfil answers its JSON as text/plain"),
    Fault("error_body_message_only", "GEN-2", '4xx bodies are {"message": ...}'),
    Fault("crash_on_long_customer_id", "GEN-3", "emit with a customer_id over 200 chars: 500"),
    Fault("lowercase_status", "GEN-4", "event status in lower case"),
    Fault(
        "naive_timestamps",
        "GEN-4",
        "event timestamps without a UTC offset, e.g. 2026-11-25T10:00:00.123",
    ),
    Fault("epoch_timestamps", "GEN-4", "event timestamps as epoch seconds"),
    Fault("wallet_totals_object", "GEN-4", "wallet.totals is an object keyed by reward id"),
    Fault("amount_as_string", "GEN-4", "transaction amounts are strings"),
    Fault("transaction_missing_type", "GEN-4", "transactions lose their `type`"),
    Fault("non_uuid_event_id", "GEN-4", "event ids look like evt_123 instead of uuids"),
    Fault("no_rate_limit_headers", "GEN-5", "no X-RateLimit-* headers"),
    # A black-box suite cannot hold a token that is expired yet signed by the target, so
    # the AUTH-1 regression is the one that lets such tokens (and forged ones) through.
    Fault(
        "unverified_token_signature",
        "AUTH-1",
        "bearer tokens are decoded without checking their signature or expiry",
    ),
    Fault("authorize_accepts_any_key", "AUTH-2", "authorize gives a token for any or no key"),
    Fault("authorize_wrong_key_402", "AUTH-2", "authorize with a wrong API key answers 402"),
    Fault("long_lived_token", "AUTH-3", "tokens live 24 hours"),
    Fault(
        "emit_ignores_fulfilled_flag",
        "EMIT-1",
        "fulfilled: false is ignored: the event is fulfilled at once",
        also=("EMIT-4",),  # a standby event that comes back RESOLVED breaks EMIT-4 too
    ),
    Fault(
        "emit_refuses_zulu_time",
        "EMIT-1",
        "an issued_at ending in Z or with fractional seconds is refused with 422",
    ),
    Fault("emit_accepts_missing_brand", "EMIT-2", "emit without brand_id is accepted"),
    Fault(
        "refused_emit_credits_later",
        "EMIT-2",
        "an emit refused for its missing brand_id is still credited ~200 ms later",
    ),
    Fault(
        "emit_accepts_stale_issued_at",
        "EMIT-3",
        "issued_at older than 72 h or in the future is accepted",
    ),
    Fault(
        "resolved_without_resolved_at",
        "EMIT-4",
        "a RESOLVED event is shown without its resolved_at",
    ),
    Fault(
        "every_other_emit_never_settles",
        "EMIT-4",
        "every second fulfilled PURCHASE emit stays PENDING forever, never processed",
    ),
    # Only an event that FAILS shows it: a fulfilled emit redeeming more than is held.
    Fault(
        "failed_without_resolved_at",
        "EMIT-4",
        "a fulfilled event that FAILS (its redemptions exceed the balance) keeps resolved_at null",
    ),
    # The old EMIT-2 defects (no customer_id/brand_id/type, fulfilled, order.value and
    # order.products of the wrong type) all still get a 4xx with these two: only the
    # wrong-type cases derived from the request schemas show them (suite/defects.py).
    Fault(
        "emit_accepts_non_object_metadata",
        "EMIT-2",
        "emit's metadata may be any JSON value: a string or a list is accepted and stored",
    ),
    Fault(
        "emit_accepts_unvalidated_products",
        "EMIT-2",
        "the members of order.products items (sku, amounts, values, tags, metadata) are "
        "not type-checked; only their redeem is",
    ),
    Fault("fulfil_answers_unfulfilled", "FUL-1", "the fulfil answer shows fulfilled: false"),
    Fault("deferred_fulfil_double_credit", "FUL-2", "fulfil credits the accumulations twice"),
    Fault("fulfil_unknown_event_ok", "FUL-3", "fulfil of an unknown id answers 200"),
    Fault(
        "fulfil_after_reverse_credits",
        "FUL-4",
        "fulfil of a reversed or cancelled event answers 200 and credits it",
    ),
    Fault(
        "refulfil_credits_again",
        "FUL-5",
        "fulfil of a fulfilled event answers 200 and credits it again",
    ),
    # Standby events that reserve points: only a redeeming twin (FUL-2) or a second fulfil
    # of a redeeming event (FUL-5) shows these.
    Fault(
        "fulfil_keeps_reservation",
        "FUL-2",
        "fulfilling a standby event debits its redemption but leaves the reservation active: "
        "the points are taken twice",
    ),
    Fault(
        "fulfil_releases_reservation",
        "FUL-2",
        "fulfilling a standby event releases its reservation instead of debiting it: the "
        "redeemed points come back",
    ),
    Fault(
        "standby_reserves_nothing",
        "FUL-2",
        "a standby emit checks the balance but writes no reservation, so its fulfil has "
        "nothing to debit",
    ),
    Fault(
        "refulfil_redeems_again",
        "FUL-5",
        "fulfil of a fulfilled event answers 200 and debits its redemptions again (only its "
        "accumulations are guarded)",
    ),
    Fault("reverse_forgets_reversed_at", "REV-1", "a reversed event has reversed_at null"),
    Fault(
        "reverse_keeps_points",
        "REV-2",
        "reverse marks the event REVERSED but leaves the wallet as it was",
    ),
    Fault(
        "reversal_unlisted_without_event_id",
        "REV-2",
        "transactions come without event_id and a reverse restores the wallet "
        "without writing a REVERSAL transaction",
    ),
    Fault("cancel_keeps_reservation", "REV-3", "cancelling keeps the reserved points away"),
    Fault(
        "double_reverse_accepted",
        "REV-4",
        "a second reverse answers 200 and restores the wallet again",
    ),
    Fault("reverse_unknown_event_ok", "REV-5", "reverse of an unknown id answers 200"),
    Fault(
        "reverse_not_atomic",
        "REV-6",
        "reverse reads and writes in separate transactions: concurrent calls all succeed",
    ),
    Fault("reverse_without_reason_accepted", "REV-7", "reverse without a reason is accepted"),
    Fault("preview_drops_brand_id", "PRV-1", "preview answers brand_id as an empty string"),
    Fault("preview_consumes_points", "PRV-2", "preview redeems the points it previews"),
    Fault(
        "preview_records_redemption",
        "PRV-2",
        "a preview that redeems points files a REDEMPTION of 0 under the latest event",
    ),
    Fault("preview_skips_shipping_result", "PRV-3", "no redemptions_result on the shipping"),
    Fault("preview_reorders_products", "PRV-4", "preview answers the products reversed"),
    Fault("preview_sorts_products", "PRV-4", "preview answers the products sorted by sku"),
    Fault(
        "preview_answers_201",
        "PRV-1",
        "a valid preview answers 201 instead of 200",
        also=("PRV-5",),  # PRV-5's unredeemable rewards are answered 200 too
    ),
    Fault(
        "preview_rejects_unknown_reward",
        "PRV-5",
        "an unknown reward id in a preview answers 422 instead of an error entry",
    ),
    Fault("preview_accepts_missing_order", "PRV-6", "preview without order answers 200"),
    Fault(
        "preview_percent_of_order_total",
        "PRV-7",
        "discount_percent of a product or shipping is taken of the order's value",
    ),
    # A fulfilled emit that redeems at one level and settles RESOLVED without debiting
    # it: no rule but EMIT-5 redeems on a fulfilled emit, so only EMIT-5 sees these.
    Fault(
        "emit_ignores_top_level_redeem",
        "EMIT-5",
        "a fulfilled emit settles without applying the top-level `redeem`",
    ),
    Fault(
        "emit_ignores_order_redeem",
        "EMIT-5",
        "a fulfilled emit settles without applying `order.redeem`",
    ),
    Fault(
        "emit_ignores_product_redeem",
        "EMIT-5",
        "a fulfilled emit settles without applying `order.products[].redeem`",
    ),
    Fault(
        "emit_ignores_shipping_redeem",
        "EMIT-5",
        "a fulfilled emit settles without applying `order.shipping.redeem`",
    ),
    # Issue 18: each guards a probe mutation testing showed was missing.
    Fault("crash_on_empty_body", "GEN-3", "an emit, create or preview with an empty body: 500"),
    Fault("crash_on_non_object_body", "GEN-3", "a body that is a bare JSON number (1e13): 500"),
    Fault("crash_on_infinite_number", "GEN-3", "a number no float holds (1e400) in a body: 500"),
    Fault("crash_on_lone_surrogate", "GEN-3", 'a string holding a lone surrogate ("\\ud800"): 500'),
    Fault("crash_on_bad_event_id_filter", "GEN-3", "list_transactions?event_id=not-a-uuid: 500"),
    Fault(
        "crash_on_year_one_issued_at",
        "GEN-3",
        "an issued_at in year 1 with an offset (0001-01-01T00:30:00+01:00): 500",
    ),
    Fault("crash_on_far_reservation", "GEN-3", "a standby emit with reserve 1e7 days: 500"),
    Fault(
        "crash_on_free_level_redeem",
        "GEN-3",
        "a preview redeeming on a product worth 0: 500",
        also=("PRV-1",),  # the preview that shows it must answer 200
    ),
    Fault(
        "negative_percent_on_free_level",
        "PRV-3",
        "a preview level worth 0 answers discount_percent -1",
        also=("GEN-4",),  # the schema bounds discount_percent to [0, 1]
    ),
    Fault(
        "preview_value_rounded_to_dime",
        "PRV-4",
        "a preview level's value after discounts is rounded to 0.1",
    ),
    Fault(
        "preview_balance_one_point_short",
        "PRV-5",
        "a preview redeeming one point more than a balance held gets no error",
    ),
    Fault(
        "preview_refuses_whole_balance",
        "PRV-5",
        "a preview redeeming exactly the balance held gets a 'balance too low' error",
    ),
    Fault(
        "preview_missing_balance_is_one",
        "PRV-5",
        "a preview redeeming 1 point of a reward the wallet holds none of gets no error",
    ),
    Fault(
        "issued_at_window_71_hours",
        "EMIT-1",
        "an emit issued 71 to 72 hours ago is refused (the window is 72 hours)",
    ),
    Fault(
        "issued_at_window_73_hours",
        "EMIT-3",
        "an emit issued 72 to 73 hours ago is accepted",
    ),
    Fault(
        "issued_at_last_seconds_future",
        "EMIT-1",
        "an emit issued in the last 5 seconds is refused as in the future",
    ),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _ALL}


def check_fault_names(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, or a SettingsError naming the unknown ones."""
    chosen = frozenset(names)
    unknown = sorted(chosen - FAULTS.keys())
    if unknown:
        raise SettingsError(
            f"unknown fault(s): {', '.join(unknown)}",
            "run `masivo-conformance serve --list-faults` for the names",
        )
    return chosen
