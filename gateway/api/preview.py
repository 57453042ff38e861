"""The send form's preview: the files (and cover page) rendered exactly as the queue will render them, returned as
page thumbnails, before anything is submitted. Nothing is stored."""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel

from gateway.api.models import Problem
from gateway.api.outgoing import SUBMIT_RIGHTS, recipients_part
from gateway.api.security import REFUSALS, ApiError, CurrentPrincipal, denied
from gateway.enums import AccessRights
from gateway.intake.mime import MailError, parse_fax_mail
from gateway.queue.documents import page_png, tiff_pages
from gateway.queue.submit import FileToFax, files_as_mail
from gateway.queue.worker import cover_fields, render_options
from gateway.render import RenderError, RenderPool

if TYPE_CHECKING:
    from gateway.server import FaxServer

PREVIEW_PAGES = 12
THUMBNAIL_WIDTH = 240
router = APIRouter(prefix="/outgoing", tags=["outgoing"], responses=REFUSALS)


class Preview(BaseModel):
    """How many pages the fax has, and the first ones as PNG data URLs."""

    pages: int
    images: list[str]


def _render_pool(server: FaxServer) -> RenderPool:
    for service in server.services:
        pool = getattr(service, "render_pool", None)
        if isinstance(pool, RenderPool):
            return pool
    raise ApiError(409, "this node renders no documents (its queue service is not running)")


@router.post("/preview", response_model=Preview, summary="Render a fax without sending it",
             responses={400: {"model": Problem}, 409: {"model": Problem}})
async def preview(
    request: Request,
    principal: CurrentPrincipal,
    recipients: Annotated[str, Form(description='JSON like submit; the first one fills the cover page')] = "[]",
    files: Annotated[list[UploadFile] | None, File()] = None,
    subject: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    cover: Annotated[bool, Form()] = False,
) -> Preview:
    """The pages the first recipient would get: cover page and documents, fine resolution, no header line."""
    server: FaxServer = request.app.state.fax_server
    config = server.config
    if not principal.rights & SUBMIT_RIGHTS:
        raise denied(AccessRights.SUBMIT_LOW, "previewing a fax")
    documents = [FileToFax(item.filename or "document", await item.read()) for item in files or []]
    if sum(len(item.data) for item in documents) > config.smtp.max_message_size:
        raise ApiError(400, f"the files are larger than {config.smtp.max_message_size} bytes")
    if not documents and not (cover and note):
        raise ApiError(400, "there is nothing to fax: no files, and no cover page with a note")
    asked = recipients_part(recipients)
    first = asked[0].model_dump() if asked else {}
    raw = files_as_mail(documents, principal.email or "api@localhost", subject or (documents[0].name if documents
                        else "fax"), sender_name=principal.display_name, note=note if cover else "")
    pool = _render_pool(server)
    options = render_options(config, "fine")
    try:
        mail = await asyncio.to_thread(parse_fax_mail, raw, config)
        with tempfile.TemporaryDirectory(prefix="faxgate-preview-") as folder:
            work = Path(folder)
            result = await pool.render(list(mail.documents), options, work / "body.tif") if mail.documents else None
            if cover:
                fields = cover_fields(config, first, mail, (principal.display_name or principal.name, principal.email),
                                      time.time())
                result = await pool.render_cover(mail.cover_template, fields, options, work / "fax.tif",
                                                 body=result.path if result is not None else None)
            if result is None:
                raise ApiError(400, "there is nothing to fax")
            data = result.path.read_bytes()
    except (MailError, RenderError) as exc:
        raise ApiError(400, getattr(exc, "reason", None) or str(exc)) from None

    def thumbnails() -> tuple[int, list[str]]:
        pages = tiff_pages(data)
        return len(pages), ["data:image/png;base64," + base64.b64encode(page_png(page, THUMBNAIL_WIDTH)).decode()
                            for page in pages[:PREVIEW_PAGES]]

    count, images = await asyncio.to_thread(thumbnails)
    return Preview(pages=count, images=images)
