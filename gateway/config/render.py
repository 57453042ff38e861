"""[render]: the sandboxed workers that turn documents into fax pages, and the limits on every document."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from gateway.config.base import Section
from gateway.config.types import Duration, Size, parse_duration


class RenderSection(Section):
    """How many render workers run, and what one document may cost before it is refused."""

    workers: int = Field(default=2, ge=1, le=64)
    """Documents rendered at the same time; one poisonous document holds up only its own worker."""
    timeout: Duration = parse_duration("45s")
    """Wall-clock time for one render (LibreOffice included); past it the worker's process group is killed."""
    cpu_time: Duration = parse_duration("30s")
    """CPU time one render may use in its worker (RLIMIT_CPU, enforced by the kernel)."""
    memory: Size = 2 * 1024 * 1024 * 1024
    """Address space of the worker and of each LibreOffice process it starts (RLIMIT_AS)."""
    max_image_pixels: int = Field(default=60_000_000, ge=1_000_000)
    """Pixels one picture may claim (PDF images, inline ones included, photos, TIFF pages), read before decoding."""
    max_page_length_mm: int = Field(default=600, ge=300, le=10_000)
    """Longest fax page (from a TIFF file) accepted; about twice A4."""

    @field_validator("timeout", "cpu_time")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        """Limits under a second would refuse every document."""
        if value.total_seconds() < 1:
            raise ValueError("must be at least 1s")
        return value
