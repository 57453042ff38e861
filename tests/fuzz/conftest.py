"""Hypothesis profiles for the fuzzers: "ci" (the default, seeded and short) and "fuzz" (scripts/fuzz, long and random).

scripts/fuzz picks the profile with FAXGATE_FUZZ_PROFILE=fuzz and the examples per round with FAXGATE_FUZZ_EXAMPLES;
the long profile keeps what it found in .hypothesis/ so a failure is replayed first on the next run.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# A decoder that takes seconds on one input would stall a modem line: 5 s per example is the "never hangs" bound
# (generous because four other developers share these two cores).
_DEADLINE = timedelta(seconds=5)
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci", derandomize=True, max_examples=60, deadline=_DEADLINE, database=None, suppress_health_check=_SLOW_DATA,
    print_blob=True,
)
settings.register_profile(
    "fuzz", derandomize=False, max_examples=int(os.environ.get("FAXGATE_FUZZ_EXAMPLES", "100000")),
    deadline=_DEADLINE, database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    suppress_health_check=_SLOW_DATA, print_blob=True,
)
settings.load_profile(os.environ.get("FAXGATE_FUZZ_PROFILE", "ci"))
