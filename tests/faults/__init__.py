"""Fault tests on a real localnet (issue 11): crash a validator under load, then check the history."""
