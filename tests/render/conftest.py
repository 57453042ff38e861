"""Fixtures for the rendering tests."""

from __future__ import annotations

import pytest

from gateway.render.options import RenderOptions


@pytest.fixture
def fine_a4() -> RenderOptions:
    """The default job: A4 at fine resolution."""
    return RenderOptions(resolution="fine", paper="a4")
