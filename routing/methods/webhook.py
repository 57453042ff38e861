"""POST the fax to a URL: JSON metadata plus the PDF as multipart/form-data, signed with HMAC-SHA256.

Signature: header X-Faxgate-Signature = "sha256=" + hex(HMAC(secret, timestamp + "." + body)), with the
timestamp in X-Faxgate-Timestamp. Idempotency-Key carries the delivery key, stable across retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from gateway.config.routing import WebhookAction
from routing.methods.base import RouteContext, RoutingFailure
from routing.templates import render

WEBHOOK_GUID = "{3f5d7a2e-1c4b-4e8f-9b6a-8d2c0e4f7a19}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of X-Faxgate-Signature for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(request: httpx.Request, secret: str, key: str) -> None:
    """The headers every faxgate webhook carries: its delivery key, and the signature when there is a secret."""
    body = request.read()
    request.headers["Idempotency-Key"] = key
    request.headers["User-Agent"] = "faxgate"
    if secret:
        stamp = str(int(time.time()))
        request.headers["X-Faxgate-Timestamp"] = stamp
        request.headers["X-Faxgate-Signature"] = signature(secret, stamp, body)


def retryable(status: int) -> bool:
    """Whether a refusal may pass on its own: server errors, 408 and 429 (other 4xx mean the request is wrong)."""
    return status >= 500 or status in (408, 429)


class WebhookMethod:
    """Tell another system about a received fax over HTTP(S)."""

    guid = WEBHOOK_GUID
    name = "webhook"
    friendly_name = "Post to a webhook"
    default_priority = 3

    def check_config(self, config: dict[str, Any]) -> None:
        """The URL must be http(s)."""
        WebhookAction.model_validate(config)

    def describe(self, config: dict[str, Any]) -> str:
        """E.g. "POST JSON+PDF to https://... (signed)"."""
        action = WebhookAction.model_validate(config)
        what = "JSON+PDF" if action.include_pdf else "JSON"
        return f"POST {what} to {action.url}" + (" (signed)" if action.secret else "")

    async def route(self, context: RouteContext) -> str:
        """Send once; 2xx is done, 4xx (but 408/429) is a permanent refusal, the rest is retried."""
        action = WebhookAction.model_validate(context.config)
        fax = context.fax
        metadata = {**fax.to_json(), "event": "fax.received", "delivery": context.delivery_key}
        stem = render(context.settings.inbound.email.attachment_name, fax, context.zone, "filename")
        files: dict[str, tuple[str, bytes, str]] = {
            "metadata": ("metadata.json", json.dumps(metadata).encode(), "application/json"),
        }
        if action.include_pdf:
            files["pdf"] = (f"{stem}.pdf", (await context.files.pdf()).read_bytes(), "application/pdf")
        timeout = action.timeout.total_seconds()
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            request = client.build_request("POST", action.url, files=files)
            sign(request, action.secret, context.delivery_key)
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                raise RoutingFailure(f"cannot reach {action.url} ({type(exc).__name__})") from exc
        if 200 <= response.status_code < 300:
            return f"posted to {action.url}: HTTP {response.status_code}"
        raise RoutingFailure(f"{action.url} answered HTTP {response.status_code}",
                             retryable=retryable(response.status_code))
