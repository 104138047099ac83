"""Shared test configuration: hypothesis profiles.

Select with HYPOTHESIS_PROFILE=ci|dev|thorough (the Makefile uses `ci`).
`ci` keeps the whole suite well under CI's budget on 2 cores; `thorough` is
for a long local run before touching a format.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "thorough", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
