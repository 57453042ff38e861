"""faxgate's server: configuration, storage, intake, rendering, queue, API, events and the CLI."""

__version__ = "0.1.0"
