"""Sub-commands of the CLI, one module each (see `masivo_conformance.cli`)."""
