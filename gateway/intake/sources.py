"""Intake sources: the SMTP listener and mailbox pollers are one kind of service, found by name.

A source factory takes the configuration, the store and the node id, and returns the sources it runs (none
when it is not configured). Factories are registered under the entry point group "faxgate.intake_sources";
[intake] sources names the ones to run. Every source applies the named checks of gateway.intake.checks and
stores submissions with gateway.storage.submissions, so what happens after intake does not depend on where a
mail came from.

Third parties declare, in their package metadata:
    [project.entry-points."faxgate.intake_sources"]
    sftp = "mypkg.intake:sftp_sources"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from gateway.config import FaxgateConfig
from gateway.storage import Database

INTAKE_SOURCES_GROUP = "faxgate.intake_sources"


@runtime_checkable
class IntakeSource(Protocol):
    """A service that takes mail in: it has a name, starts and stops, and says how it is doing."""

    name: str

    async def start(self) -> None:
        """Begin taking mail; return once ready."""
        ...

    async def stop(self) -> None:
        """Stop taking mail; what was taken is stored, what was not is left where it was."""
        ...


@runtime_checkable
class ReportsStatus(Protocol):
    """A source with a lifecycle state to show (a mailbox: ready, or retrying and why)."""

    def status(self) -> dict[str, Any]:
        """Name, state, reason and the like, as JSON."""
        ...


SourceFactory = Callable[[FaxgateConfig, Database, str], Sequence[Any]]


def _built_in() -> dict[str, SourceFactory]:
    """The sources faxgate ships (also declared as entry points; kept here for a checkout without metadata)."""
    from gateway.intake.smtp import smtp_sources
    from gateway.mailbox.source import mailbox_sources

    return {"smtp": smtp_sources, "mailbox": mailbox_sources}


def source_factories() -> dict[str, SourceFactory]:
    """Every known source factory by name: the built-in ones and those of installed packages."""
    factories = _built_in()
    for entry in entry_points(group=INTAKE_SOURCES_GROUP):
        if entry.name not in factories:
            factories[entry.name] = entry.load()
    return factories


def intake_sources(config: FaxgateConfig, db: Database, node_id: str = "") -> list[IntakeSource]:
    """The sources [intake] sources names, in that order; ValueError for a name no package provides."""
    factories = source_factories()
    sources: list[IntakeSource] = []
    for name in config.intake.sources:
        factory = factories.get(name)
        if factory is None:
            raise ValueError(f"[intake] sources names {name!r}, but no package provides it "
                             f"(known: {', '.join(sorted(factories))})")
        for source in factory(config, db, node_id):
            if not isinstance(source, IntakeSource):
                raise TypeError(f"intake source {name!r} made {source!r}, which lacks name, start or stop")
            sources.append(source)
    return sources
