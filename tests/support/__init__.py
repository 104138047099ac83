"""Helpers shared by the tests (strategies, strict comparison)."""
