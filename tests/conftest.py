"""Hypothesis settings shared by every test."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI runs a fixed number of examples with no deadline (arb and mpmath timings vary).
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("VERIFAE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile("ci")
