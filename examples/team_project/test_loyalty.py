"""Our loyalty flow against Masivo; every answer is also judged by the contract."""


def test_a_reversed_purchase_gives_the_points_back(storefront, customer):
    before = storefront.wallet(customer)  # totals by reward id: {} for a new customer

    earned = storefront.earn(customer, value=200.0)  # a fulfilled PURCHASE, settled
    assert earned.status == "RESOLVED"
    assert storefront.wallet(customer) != before  # the purchase earned points

    reversed_ = storefront.reverse(earned.event_id)
    assert reversed_.status == 200
    assert reversed_.data["status"] == "REVERSED"
    # Effects may land late: read until the wallet is back (a reward at 0 equals none).
    assert storefront.wallet_back_to(customer, before) == before


def test_a_standby_purchase_earns_once_fulfilled(storefront, customer):
    emitted = storefront.emit_purchase(customer, value=80.0, fulfilled=False)
    assert emitted.data["status"] == "PENDING"
    event_id = storefront.event_id(emitted)
    assert storefront.wallet(customer) == {}  # nothing earned yet

    settled = storefront.settle(storefront.fulfil(event_id))
    assert settled.known
    earned = {t["reward_id"]: t["amount"] for t in settled.transactions}
    assert earned  # the purchase earned something
    assert storefront.wallet_after(customer, {}) == earned
