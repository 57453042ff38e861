"""A Python client for faxgate that mirrors the Windows FaxServer object: ``FaxServer.connect(url, token)``,
``server.folders.outgoing_queue.get_jobs()``, ``FaxDocument(...).submit(server)``; blocking or asyncio."""

from gateway.client.aio import AsyncFaxServer, FaxApiError
from gateway.client.document import FaxDocument, FaxRecipient
from gateway.client.sync import FaxServer

__all__ = ["AsyncFaxServer", "FaxApiError", "FaxDocument", "FaxRecipient", "FaxServer"]
