"""Deterministic financing contracts (see docs/; arrives with the Contracts issues)."""
