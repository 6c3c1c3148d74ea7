"""Recorded traffic: cassettes (pytest-recording layout), their shapes and the drift
between two recordings. Depends on `contract` only."""
