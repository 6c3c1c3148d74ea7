"""Contract tests and API conformance suite for the Masivo storefront REST API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
