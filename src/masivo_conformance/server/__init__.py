"""The reference server: a stateful, durable stand-in for Masivo with switchable faults.

It sits beside the suite and never imports it (plugin, checks, client).
"""

from masivo_conformance.server.app import create_app
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.server.faults import FAULTS, Fault

__all__ = ["FAULTS", "EmbeddedServer", "Fault", "ServerConfig", "create_app"]
