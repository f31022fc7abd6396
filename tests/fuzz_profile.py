"""How long the Hypothesis fuzz tests run: a short pass in CI, a long hunt on demand.

``OSTIARY_FUZZ=long`` turns every fuzz test that builds its settings here into a long run
(``OSTIARY_FUZZ_EXAMPLES=N`` sets the count exactly). The CI pass keeps each file well
under a minute on two cores.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("OSTIARY_FUZZ", "").lower() == "long"
LONG_EXAMPLES = 2_000


def examples(ci: int, long: int = LONG_EXAMPLES) -> int:
    """The number of examples: ``OSTIARY_FUZZ_EXAMPLES``, else ``long`` or ``ci``."""
    exact = os.environ.get("OSTIARY_FUZZ_EXAMPLES")
    if exact:
        return int(exact)
    return long if LONG else ci


def fuzz_settings(ci: int, long: int = LONG_EXAMPLES) -> settings:
    """Settings for a fuzz test against a live server: no deadline (a request's time is
    the server's, not the strategy's), fixtures shared across examples on purpose."""
    return settings(
        max_examples=examples(ci, long),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
