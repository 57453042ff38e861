"""The HTTP API: health, and (growing) the job and inbox operations of the CLI."""
