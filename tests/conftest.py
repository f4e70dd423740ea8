"""Shared test configuration.

Hypothesis profiles: ``ci`` (quick, reproducible output), ``dev`` (the default) and
``thorough``. Pick one with ``HYPOTHESIS_PROFILE=<name>``; when that is unset and
``CI`` is set, ``ci`` is used.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)


def _profile_name() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI") else "dev"


settings.load_profile(_profile_name())
