"""Tests against a hostile target: a proxy (`tamperer.Tamperer`) that rewrites the answers
of a reference server, down to bytes and timing, to prove the suite survives them."""
