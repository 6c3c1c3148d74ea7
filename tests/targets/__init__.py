"""Stand-in targets for the project's own tests (servers that are not the reference server)."""
