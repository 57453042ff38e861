"""Store in a folder (MS_FAXROUTE_FOLDER_GUID): atomic, no clobbering, and idempotent across crashes.

The file name comes from a template filled with cleaned fields only, so no remote string can add a
separator, "..", or a control character. Each file is written to a temporary name, flushed to disk and
then hard-linked into place, which never overwrites anything. If a file of that name already has the
same bytes, it is the earlier delivery of this fax (say, before a crash) and nothing is written again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

from gateway.config.routing import FolderAction
from gateway.enums import MS_FAXROUTE_FOLDER_GUID
from gateway.filemodes import file_mode, make_folders
from routing.methods.base import RouteContext, RoutingFailure
from routing.templates import check_template, render

MAX_SUFFIX = 1000


def _same_bytes(path: Path, size: int, digest: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_once(folder: Path, stem: str, suffix: str, data: bytes, mode: int = 0o600) -> Path:
    """Place ``data`` as folder/stem.suffix (or stem-N.suffix if taken by other bytes); never twice, never partial."""
    folder = folder.resolve()
    digest = hashlib.sha256(data).hexdigest()
    for leftover in folder.glob(f".{stem}.*.part"):
        leftover.unlink(missing_ok=True)  # from a run of this same delivery that crashed mid-write
    temp = folder / f".{stem}.{uuid.uuid4().hex}.part"
    if temp.parent != folder:
        raise RoutingFailure(f"unsafe file name {stem!r}", retryable=False)
    with open(temp, "xb") as handle:
        os.fchmod(handle.fileno(), mode)  # the link below shares this inode, so the file never appears wider
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        for number in range(MAX_SUFFIX):
            target = folder / (f"{stem}-{number}{suffix}" if number else f"{stem}{suffix}")
            if target.parent != folder:
                raise RoutingFailure(f"unsafe file name {target.name!r}", retryable=False)
            if target.exists():
                if _same_bytes(target, len(data), digest):
                    return target
                continue
            try:
                os.link(temp, target)
            except FileExistsError:
                if _same_bytes(target, len(data), digest):
                    return target
                continue
            _fsync_dir(folder)
            return target
        raise RoutingFailure(f"{MAX_SUFFIX} files named {stem}{suffix} already exist in {folder}", retryable=False)
    finally:
        temp.unlink(missing_ok=True)


class FolderMethod:
    """Copy the fax (PDF, TIFF or both) into a folder under a templated name."""

    guid = MS_FAXROUTE_FOLDER_GUID
    name = "folder"
    friendly_name = "Store in a folder"
    default_priority = 1

    def check_config(self, config: dict[str, Any]) -> None:
        """The folder must be absolute and the name template must use known fields."""
        action = FolderAction.model_validate(config)
        if not Path(action.path).is_absolute():
            raise ValueError(f"folder path must be absolute, got {action.path!r}")
        check_template(action.name)

    def describe(self, config: dict[str, Any]) -> str:
        """E.g. "store PDF in /srv/fax as {received:...}-{id}.pdf"."""
        action = FolderAction.model_validate(config)
        return f"store {action.format.upper()} in {action.path}" + (f" as {action.name}" if action.name else "")

    async def route(self, context: RouteContext) -> str:
        """Write each file of the chosen format once."""
        action = FolderAction.model_validate(context.config)
        folder = Path(action.path)
        stem = render(action.name or context.settings.inbound.folder.name, context.fax, context.zone, "filename")
        sources: list[tuple[Path, str]] = []
        if action.format in ("pdf", "both"):
            sources.append((await context.files.pdf(), ".pdf"))
        if action.format in ("tiff", "both"):
            sources.append((context.files.tiff, ".tif"))
        written: list[str] = []
        try:
            await asyncio.to_thread(make_folders, folder, action.folder_mode)
            for source, suffix in sources:
                data = await asyncio.to_thread(source.read_bytes)
                target = await asyncio.to_thread(write_once, folder, stem, suffix, data,
                                                 file_mode(action.folder_mode))
                written.append(str(target))
        except OSError as exc:
            raise RoutingFailure(f"cannot write to {folder}: {exc.strerror or exc}") from exc
        return "stored " + ", ".join(written)
