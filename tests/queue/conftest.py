"""Fixtures for the queue tests: a virtual-time queue on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tests.queue.harness import QueueHarness, queue_config

MakeQueue = Callable[..., Coroutine[Any, Any, QueueHarness]]


@pytest.fixture
async def make_queue(tmp_path: Path) -> AsyncIterator[MakeQueue]:
    """Build a harness with config overrides and device names; closed after the test."""
    made: list[QueueHarness] = []

    async def make(overrides: dict[str, Any] | None = None, devices: tuple[str, ...] = ("sim0",)) -> QueueHarness:
        harness = QueueHarness(queue_config(overrides, tmp_path), list(devices),
                               f"sqlite+aiosqlite:///{tmp_path / f'q{len(made)}.db'}", tmp_path)
        await harness.start()
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.close()
