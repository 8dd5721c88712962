"""Shared Hypothesis settings for the fuzz tests: 1,000 examples in `make test`, more in `make soak`
(PMS_FUZZ_EXAMPLES=10000)."""

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("PMS_FUZZ_EXAMPLES", "1000"))
fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
