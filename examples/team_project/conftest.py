import pytest


@pytest.fixture
def customer(storefront):
    """A new customer of this test (its id starts with mc-test-)."""
    return storefront.create_customer()
