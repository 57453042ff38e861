"""The rate x coding x resolution matrix that both directions of the interoperability tests run through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

RATES = [("V.17", 14400), ("V.29", 9600), ("V.27ter", 4800)]
CODINGS = [("1D", False, "MH"), ("2D", False, "MR"), ("T.6", True, "MMR")]

F = TypeVar("F", bound=Callable[..., Any])


def line_matrix(test: F) -> F:
    """Run ``test`` once per (modem, bit_rate) x (coding, ecm, compression) x fine."""
    test = pytest.mark.parametrize("fine", [False, True], ids=["standard", "fine"])(test)
    test = pytest.mark.parametrize(("coding", "ecm", "compression"), CODINGS, ids=[c[2] for c in CODINGS])(test)
    return pytest.mark.parametrize(("modem_name", "bit_rate"), RATES, ids=[r[0] for r in RATES])(test)
