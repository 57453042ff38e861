"""The render sandbox and the limits on every document: linked content is never fetched nor drawn, a document
that costs too much is refused with a plain reason while the next one renders, oversized pictures and pages are
refused from their declared sizes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.render import InputDocument, RenderError, RenderErrorCode, RenderOptions, RenderPool, render_documents
from gateway.render.sandbox import SandboxLimits
from tests.fixtures.hostile import docx_linking, inline_image_pdf, nested_forms_pdf, odt_linking, tiff_bomb
from tests.render.helpers import black_picture, largest_black_area, make_pdf, pages_of


@pytest.mark.parametrize("kind", ["docx", "odt"])
@pytest.mark.parametrize("where", ["sandboxed worker", "in process"])
async def test_linked_pictures_are_neither_fetched_nor_drawn(
    tmp_path: Path, canary: tuple[str, list[str]], kind: str, where: str
) -> None:
    url, requests = canary
    make = docx_linking if kind == "docx" else odt_linking
    document = make(tmp_path / f"linked.{kind}", [f"{url}/{kind}.png", black_picture(tmp_path)])
    inputs = [InputDocument(data=document.read_bytes(), filename=document.name)]
    out = tmp_path / "out.tif"
    if where == "in process":  # LibreOffice's own settings alone, as when namespaces are not permitted
        result = await asyncio.to_thread(render_documents, inputs, out, RenderOptions())
    else:
        async with RenderPool(workers=1, workdir=tmp_path) as pool:
            result = await pool.render(inputs, RenderOptions(), out)
    assert result.pages >= 1
    assert requests == []
    for page in pages_of(out):
        assert largest_black_area(page) < 0.01  # a 15 x 10 cm black picture would cover a third of the page


async def test_nested_forms_pdf_is_refused_while_the_next_document_renders(tmp_path: Path) -> None:
    bomb = nested_forms_pdf(tmp_path / "nested.pdf", depth=9, width=10)
    ordinary = make_pdf(tmp_path / "ordinary.pdf", [{"lines": [(72, 90, "ORDINARY LETTER", {})]}])
    limits = SandboxLimits(memory_bytes=2 << 30, cpu_seconds=5, wall_seconds=30.0)
    async with RenderPool(workers=2, workdir=tmp_path, limits=limits) as pool:
        await pool.warm()
        bad = asyncio.create_task(pool.render([InputDocument(path=bomb)], RenderOptions()))
        await asyncio.sleep(0)  # the bomb is sent to a worker first
        good = asyncio.create_task(pool.render([InputDocument(path=ordinary)], RenderOptions()))
        done, _ = await asyncio.wait({bad, good}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {good} and not bad.done()
        assert (await good).pages == 1
        with pytest.raises(RenderError) as refused:
            await bad
        assert refused.value.code is RenderErrorCode.CPU_LIMIT
        assert refused.value.reason.startswith("The document needed more than 5 seconds of computing time")
        again = await pool.render([InputDocument(path=ordinary)], RenderOptions())  # the worker was replaced
        assert again.pages == 1


async def test_a_hung_render_is_killed_at_the_wall_clock_limit(tmp_path: Path) -> None:
    bomb = nested_forms_pdf(tmp_path / "nested.pdf", depth=9, width=10)
    limits = SandboxLimits(memory_bytes=2 << 30, cpu_seconds=600, wall_seconds=3.0)
    async with RenderPool(workers=1, workdir=tmp_path, limits=limits) as pool:
        [first] = await pool.warm()
        with pytest.raises(RenderError) as refused:
            await pool.render([InputDocument(path=bomb)], RenderOptions())
        assert refused.value.code is RenderErrorCode.TIME_LIMIT
        assert "took longer than 3 seconds" in refused.value.reason
        assert not await asyncio.to_thread(Path(f"/proc/{first}").exists)  # killed, and replaced below
        cover = await pool.render_cover("fyi", {"recipient_name": "Jane"}, RenderOptions())
        assert cover.pages == 1


def test_inline_image_of_400_megapixels_is_refused(tmp_path: Path) -> None:
    pdf = inline_image_pdf(tmp_path / "inline.pdf", 20000, 20000)
    with pytest.raises(RenderError) as refused:
        render_documents([InputDocument(path=pdf)], tmp_path / "out.tif", RenderOptions())
    assert refused.value.code is RenderErrorCode.IMAGE_TOO_LARGE
    assert refused.value.reason == ("The PDF file draws an image into page 1 that is too large (20000 x 20000 "
                                    "pixels); at most 60,000,000 pixels are accepted.")
    assert not (tmp_path / "out.tif").exists()


def test_small_inline_images_still_render(tmp_path: Path) -> None:
    pdf = inline_image_pdf(tmp_path / "inline.pdf", 400, 300)
    result = render_documents([InputDocument(path=pdf)], tmp_path / "out.tif", RenderOptions())
    assert result.pages == 1 and pages_of(tmp_path / "out.tif")[0].any()


def test_fax_tiff_with_a_page_millions_of_rows_long_is_refused_from_its_tags(tmp_path: Path) -> None:
    bomb = tiff_bomb(tmp_path / "bomb.tif", rows=4_000_000)
    with pytest.raises(RenderError) as refused:
        render_documents([InputDocument(path=bomb)], tmp_path / "out.tif", RenderOptions())
    assert refused.value.code is RenderErrorCode.PAGE_TOO_LONG
    assert refused.value.reason == "Page 1 of the fax file is 518.4 m long; pages of at most 600 mm can be faxed."
