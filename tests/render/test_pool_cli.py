"""The worker pool off the event loop, and the `faxgate render` command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from gateway.render import InputDocument, RenderError, RenderErrorCode, RenderOptions, RenderPool
from gateway.render.cli import render
from tests.render.helpers import make_pdf, match_score, pages_of, text_reference


async def test_pool_renders_jobs_concurrently_in_workers(tmp_path: Path) -> None:
    pdfs = [make_pdf(tmp_path / f"d{n}.pdf", [{"lines": [(72, 90, f"WORKER-JOB-{n}", {"fontname": "cour"})]}] * (n + 1))
            for n in range(3)]
    async with RenderPool(workers=2, workdir=tmp_path) as pool:
        pids = await pool.warm()
        assert len(set(pids)) >= 1
        results = await asyncio.gather(*(pool.render([InputDocument(path=p)], RenderOptions()) for p in pdfs))
        assert [r.pages for r in results] == [1, 2, 3]
        for n, result in enumerate(results):
            assert result.path.parent == tmp_path
            page = pages_of(result.path)[0]
            assert match_score(page, text_reference(f"WORKER-JOB-{n}", RenderOptions().geometry, size=11))[0] > 0.985
        try:
            await pool.render([InputDocument(data=b"")], RenderOptions())
        except RenderError as error:  # the error crosses the process boundary intact
            assert error.code is RenderErrorCode.EMPTY_FILE
        else:
            raise AssertionError("empty input was accepted")
        cover = await pool.render_cover("urgent", {"recipient_name": "Jane"}, RenderOptions(resolution="standard"))
        assert cover.pages == 1 and not cover.fine


def test_cli_renders_with_cover_and_reports_json(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [{"lines": [(72, 72, "CLI", {})]}] * 2)
    text = tmp_path / "note.txt"
    text.write_text("hello from the command line\n")
    out = tmp_path / "fax.tif"
    runner = CliRunner()
    result = runner.invoke(render, [str(pdf), str(text), "-o", str(out), "--resolution", "standard",
                                    "--paper", "letter", "--cover", "fyi", "--field", "recipient_name=Jane", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["pages"] == 4 and report["cover_pages"] == 1 and report["fine"] is False
    assert [d["pages"] for d in report["documents"]] == [2, 1]
    assert [p.shape for p in pages_of(out)] == [(1078, 1728)] * 4


def test_cli_errors_are_plain(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(render, [str(empty), "-o", str(tmp_path / "x.tif"), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output) == {"error": "empty_file", "reason": result_reason(result.output),
                                         "document": "empty.pdf"}
    result = runner.invoke(render, [str(empty), "-o", str(tmp_path / "x.tif"), "--field", "colour=red"])
    assert result.exit_code == 2 and "unknown field" in result.output


def result_reason(output: str) -> str:
    reason: str = json.loads(output)["reason"]
    assert "empty" in reason
    return reason
