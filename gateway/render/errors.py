"""The one error type rendering raises: a stable code for programs and a plain reason for the sender."""

from __future__ import annotations

from enum import StrEnum


class RenderErrorCode(StrEnum):
    """Why a document could not become fax pages; the values are stable and may be stored."""

    EMPTY_FILE = "empty_file"
    UNKNOWN_TYPE = "unknown_type"
    INPUT_TOO_LARGE = "input_too_large"
    TOO_MANY_PAGES = "too_many_pages"
    IMAGE_TOO_LARGE = "image_too_large"
    ENCRYPTED_PDF = "encrypted_pdf"
    DAMAGED_PDF = "damaged_pdf"
    DAMAGED_IMAGE = "damaged_image"
    DAMAGED_TIFF = "damaged_tiff"
    OFFICE_UNAVAILABLE = "office_unavailable"
    OFFICE_FAILED = "office_failed"
    COVER_TEMPLATE_NOT_FOUND = "cover_template_not_found"
    COVER_TEMPLATE_INVALID = "cover_template_invalid"
    NO_PAGES = "no_pages"
    WORKER_CRASHED = "worker_crashed"
    PAGE_TOO_LONG = "page_too_long"
    TIME_LIMIT = "time_limit"
    CPU_LIMIT = "cpu_limit"
    MEMORY_LIMIT = "memory_limit"


class RenderError(Exception):
    """A document cannot be faxed; `reason` is a sentence a sender can act on."""

    def __init__(self, code: RenderErrorCode, reason: str, *, document: str | None = None) -> None:
        self.code = code
        self.reason = reason
        self.document = document
        super().__init__(f"{document}: {reason}" if document else reason)

    def for_document(self, name: str | None) -> RenderError:
        """The same error naming the document it came from (the first name wins)."""
        if self.document or not name:
            return self
        return RenderError(self.code, self.reason, document=name)

    def __reduce__(self) -> tuple[object, ...]:
        """Survive the trip back from a worker process with code and reason intact."""
        return (_rebuild, (self.code.value, self.reason, self.document))


def _rebuild(code: str, reason: str, document: str | None) -> RenderError:
    """Unpickle helper for RenderError."""
    return RenderError(RenderErrorCode(code), reason, document=document)
