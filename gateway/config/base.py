"""The base of every configuration section: unknown keys are errors, so typos never pass silently."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A TOML table: strict about unknown keys, lenient about nothing else."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
