"""Storage: one database (SQLite or PostgreSQL), with the queries of each kind in their own module."""

from gateway.storage.database import Database, get_blob, new_id, put_blob

__all__ = ["Database", "get_blob", "new_id", "put_blob"]
