"""Ordinary RTF message bodies as safe HTML that keeps what a fax reader needs.

Kept: paragraphs and line breaks, bold/italic/underline/strike, super- and subscript, font sizes (relative to the
size most of the text uses), alignment, left and first-line indents, space before and after paragraphs, simple
tables (borders when the RTF draws any), Word's list numbers and bullets (\\listtext, \\pntext; the reader turns
Symbol and Wingdings bullets into "•"), hyperlinks' visible text and page breaks (MuPDF's Story honours
page-break-before). Left out: colours and highlighting (a fax is black and white, so all text is black), fonts,
pictures and embedded objects (their destinations are skipped), hidden text. Every piece of text is HTML-escaped
and every attribute is built here from clamped numbers, so nothing from the RTF reaches the markup unescaped; the
output never nests deeper than table > tr > td > p > span > b > i > u > s > sup however the RTF nests its groups.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

from gateway.intake.rtf import GroupState, RtfReader, tidy_text

MAX_HTML_CHARS = 10_000_000
"""Stop writing HTML past this (far more than a fax job's page limit holds); a note on the page says so."""
_MARKUP_CHARS = 48  # at least what a cell's or a row's tags add; counted towards MAX_HTML_CHARS
_NOTE_ROOM = 1024  # kept free under MAX_HTML_CHARS for the truncation note, the tags it closes and the wrapper
DEFAULT_HALF_POINTS = 24  # RTF's default \fs: 12 pt
TRUNCATION_NOTE = "[The rest of this message is too long to fax and was left out.]"

_BORDER_SIDES = frozenset({"clbrdrt", "clbrdrl", "clbrdrb", "clbrdrr", "trbrdrt", "trbrdrl", "trbrdrb", "trbrdrr",
                           "trbrdrh", "trbrdrv"})
_NO_BORDER = frozenset({"brdrnil", "brdrnone"})
_ALIGNMENTS = {"ql": "left", "qc": "center", "qr": "right", "qj": "justify", "qd": "justify"}
_CSS = ("p{margin:0;white-space:pre-wrap}table{border-collapse:collapse}"
        "td{vertical-align:top;padding:1pt 4pt}table.grid td{border:0.75pt solid black}")

Script = Literal["", "sup", "sub"]


class CharFormat(NamedTuple):
    """The character properties a fax shows."""

    bold: bool = False
    italic: bool = False
    underline: bool = False
    strike: bool = False
    script: Script = ""
    half_points: int = DEFAULT_HALF_POINTS


class ParaFormat(NamedTuple):
    """The paragraph properties a fax shows; lengths in twips as the RTF gives them."""

    align: str = "left"
    left: int = 0
    first: int = 0
    before: int = 0
    after: int = 0
    in_table: bool = False
    page_before: bool = False


_PLAIN = CharFormat()
_PARD = ParaFormat()


@dataclass
class _HtmlGroupState(GroupState):
    char: CharFormat = _PLAIN
    para: ParaFormat = _PARD


def rtf_to_html(rtf: bytes) -> tuple[str, str]:
    """Ordinary RTF as an HTML document, and its plain text (as rtf_to_text gives it), in one pass."""
    writer = _HtmlWriter(rtf)
    text = writer.read()
    return writer.document(), tidy_text(text)


class _HtmlWriter(RtfReader):
    """The RTF reader, with formatting kept per group and paragraphs, cells and rows written as they end."""

    def __init__(self, rtf: bytes) -> None:
        super().__init__(rtf, html=False)
        self.blocks: list[str] = []
        self.size = 0
        self.truncated = False
        self.pieces: list[str] = []
        self.run: list[str] = []
        self.run_format = CharFormat()
        self.cell_blocks: list[str] = []
        self.cells: list[str] = []
        self.rows: list[str] = []
        self.cell_edges: list[int] = []
        self.border_side = False
        self.bordered = False
        self.page_break = False
        self.chars_by_size: Counter[int] = Counter()

    @property
    def html_state(self) -> _HtmlGroupState:
        return cast(_HtmlGroupState, self.stack[-1])  # every state comes from _root_state's, by child()

    def _root_state(self) -> GroupState:
        return _HtmlGroupState()

    # --- what the reader hands over --------------------------------------------------------------------------

    def _text_out(self, text: str) -> None:
        super()._text_out(text)
        self._add_text(text, self.html_state.char)

    def _symbol_word(self, name: str) -> None:
        if not self._visible():
            return
        self._count(_MARKUP_CHARS)
        if self.truncated:
            super()._symbol_word(name)  # the plain text goes on
            return
        if name in ("par", "sect", "nestrow"):
            self.parts.append("\n")
            self._end_paragraph(self.html_state.para)
        elif name == "line":
            self.parts.append("\n")
            self._close_run()
            self.pieces.append("<br>")
        elif name == "page":
            self.parts.append("\n")
            if self.pieces:
                self._end_paragraph(self.html_state.para)
            self.page_break = True
        elif name in ("cell", "nestcell"):
            self.parts.append("\t")
            self._end_cell()
        elif name == "row":
            self.parts.append("\n")
            self._end_row()
        else:
            super()._symbol_word(name)

    def _property(self, name: str, parameter: int | None) -> None:
        state = self.html_state
        if state.skip:
            return  # font tables, style sheets, pictures: nothing in them formats the text
        self._flush()
        super()._property(name, parameter)
        char = _char_property(state.char, name, parameter)
        if char is not None:
            state.char = char
            return
        para = _para_property(state.para, name, parameter)
        if para is not None:
            state.para = para
            return
        self._table_property(name, parameter)

    def _table_property(self, name: str, parameter: int | None) -> None:
        """Row definitions: cell edges for widths, and whether any cell draws a border."""
        if name == "trowd":
            self.cell_edges = []
        elif name == "cellx" and parameter is not None:
            self.cell_edges.append(parameter)
        elif name in _BORDER_SIDES:
            self.border_side = True
        elif name.startswith("brdr") and self.border_side:
            self.border_side = False
            if name not in _NO_BORDER:
                self.bordered = True

    # --- building the HTML -----------------------------------------------------------------------------------

    def _add_text(self, text: str, char: CharFormat) -> None:
        if self.truncated:
            return
        room = max(0, MAX_HTML_CHARS - _NOTE_ROOM - self.size)
        kept = text if _escaped_size(text) <= room else text[:room]
        if _escaped_size(kept) > room:
            kept = text[:room // 6]  # no character escapes to more than six
        if char != self.run_format:
            self._close_run()
            self.run_format = char
        self.run.append(kept)
        self.chars_by_size[char.half_points] += len(kept)
        self._count(_escaped_size(kept))
        if len(kept) < len(text) and not self.truncated:
            self._truncate()

    def _count(self, chars: int) -> None:
        """Keep the HTML under MAX_HTML_CHARS: escaped text and tags as written, plus _MARKUP_CHARS a cell or row."""
        self.size += chars
        if self.size > MAX_HTML_CHARS - _NOTE_ROOM and not self.truncated:
            self._truncate()

    def _close_run(self) -> None:
        if self.run:
            text = "".join(self.run)
            piece = _run_html(text, self.run_format)
            self.pieces.append(piece)
            self.run.clear()
            self.size += len(piece) - _escaped_size(text)

    def _truncate(self) -> None:
        """Past MAX_HTML_CHARS: finish what is open, say on the page that the rest is left out, write no more."""
        self._close_run()
        if self.pieces:
            self._end_paragraph(self.html_state.para)
        self._end_table()
        self.blocks.append(f"<p><i>{html.escape(TRUNCATION_NOTE)}</i></p>")
        self.truncated = True

    def _end_paragraph(self, para: ParaFormat) -> None:
        """A finished paragraph goes into the open cell (\\intbl) or, closing any open table, to the body."""
        self._close_run()
        if para.in_table:
            if self.pieces or not self.cell_blocks:
                self.cell_blocks.append(self._paragraph_html(para))
            return
        self._end_table()
        self.blocks.append(self._paragraph_html(para))

    def _paragraph_html(self, para: ParaFormat) -> str:
        content = "".join(self.pieces) or "&nbsp;"
        self.pieces.clear()
        style = _paragraph_style(para, page_break=self.page_break and not para.in_table)
        if not para.in_table:
            self.page_break = False
        self.size += len(style) + 22  # '<p style=""></p>' around the runs (counted already) or a &nbsp;
        return f'<p style="{style}">{content}</p>' if style else f"<p>{content}</p>"

    def _end_cell(self) -> None:
        self._close_run()
        if self.pieces or not self.cell_blocks:
            self.cell_blocks.append(self._paragraph_html(self.html_state.para._replace(in_table=True)))
        self.cells.append("".join(self.cell_blocks))
        self.cell_blocks.clear()

    def _end_row(self) -> None:
        self._close_run()
        if self.pieces or self.cell_blocks:
            self._end_cell()
        if not self.cells:
            return
        widths = _cell_widths(self.cell_edges, len(self.cells))
        cells = "".join(f'<td style="width:{width}pt">{cell}</td>' if width else f"<td>{cell}</td>"
                        for cell, width in zip(self.cells, widths, strict=True))
        self.rows.append(f"<tr>{cells}</tr>")
        self.cells.clear()

    def _end_table(self) -> None:
        if self.cell_blocks or self.cells:
            self._end_row()
        if not self.rows:
            return
        rows = "".join(self.rows)
        self.rows.clear()
        grid = ' class="grid"' if self.bordered else ""
        self.bordered = False
        style = ' style="page-break-before:always"' if self.page_break else ""
        self.page_break = False
        self.blocks.append(f"<table{grid}{style}>{rows}</table>")

    def document(self) -> str:
        """The whole HTML document, once `read` has walked the RTF."""
        self._close_run()
        if self.pieces:
            self._end_paragraph(self.html_state.para)
        self._end_table()
        body = "\n".join(self.blocks)
        # \uN gives UTF-16 code units: join surrogate pairs, replace lone halves (as the plain text does).
        body = body.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return f"<html><head><style>{_CSS}{self._size_css()}</style></head><body>\n{body}\n</body></html>"

    def _size_css(self) -> str:
        """Font sizes relative to the one most of the text uses, which the renderer's body size stands for."""
        base = self.chars_by_size.most_common(1)[0][0] if self.chars_by_size else DEFAULT_HALF_POINTS
        return "".join(f".f{size}{{font-size:{_clamp(round(100 * size / base), 50, 400)}%}}"
                       for size in sorted(self.chars_by_size))


def _char_property(char: CharFormat, name: str, parameter: int | None) -> CharFormat | None:
    """The character format after one control word, or None if the word is not a character property."""
    on = parameter != 0
    if name == "b":
        return char._replace(bold=on)
    if name == "i":
        return char._replace(italic=on)
    if name == "ulnone":
        return char._replace(underline=False)
    if name.startswith("ul") and name != "ulc":  # \ul and its styles (\uld, \uldb, \ulw, \ulwave ...)
        return char._replace(underline=on)
    if name in ("strike", "striked"):
        return char._replace(strike=on)
    if name == "super":
        return char._replace(script="sup")
    if name == "sub":
        return char._replace(script="sub")
    if name == "nosupersub":
        return char._replace(script="")
    if name == "fs":
        return char._replace(half_points=_clamp(DEFAULT_HALF_POINTS if parameter is None else parameter, 2, 400))
    if name == "plain":
        return _PLAIN
    return None


def _para_property(para: ParaFormat, name: str, parameter: int | None) -> ParaFormat | None:
    """The paragraph format after one control word, or None if the word is not a paragraph property."""
    value = parameter or 0
    if name == "pard":
        return _PARD
    if name in _ALIGNMENTS:
        return para._replace(align=_ALIGNMENTS[name])
    if name in ("li", "lin"):
        return para._replace(left=value)
    if name == "fi":
        return para._replace(first=value)
    if name == "sb":
        return para._replace(before=value)
    if name == "sa":
        return para._replace(after=value)
    if name == "intbl":
        return para._replace(in_table=parameter != 0)
    if name == "itap":
        return para._replace(in_table=value > 0)
    if name == "pagebb":
        return para._replace(page_before=parameter != 0)
    return None


def _run_html(text: str, char: CharFormat) -> str:
    """One run of equally formatted text, escaped, in tags and a size class made here (never from the RTF)."""
    markup = html.escape(text, quote=True).replace("\t", "    ")
    if char.script:
        markup = f"<{char.script}>{markup}</{char.script}>"
    for on, tag in ((char.strike, "s"), (char.underline, "u"), (char.italic, "i"), (char.bold, "b")):
        if on:
            markup = f"<{tag}>{markup}</{tag}>"
    return f'<span class="f{char.half_points}">{markup}</span>'


def _escaped_size(text: str) -> int:
    """The length of `text` once _run_html has escaped it: & < > " ' become entities, a tab four spaces."""
    return (len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">") + text.count("\t"))
            + 5 * (text.count('"') + text.count("'")))


def _paragraph_style(para: ParaFormat, *, page_break: bool) -> str:
    """Inline CSS from clamped numbers and fixed keywords; "" for a plain paragraph."""
    left = _clamp(para.left // 20, 0, 300)
    first = _clamp(para.first // 20, -left, 300)
    rules = [f"text-align:{para.align}"] if para.align != "left" else []
    rules += [f"margin-left:{left}pt"] if left else []
    rules += [f"text-indent:{first}pt"] if first else []
    rules += [f"margin-top:{_clamp(para.before // 20, 0, 72)}pt"] if para.before > 0 else []
    rules += [f"margin-bottom:{_clamp(para.after // 20, 0, 72)}pt"] if para.after > 0 else []
    rules += ["page-break-before:always"] if page_break or (para.page_before and not para.in_table) else []
    return ";".join(rules)


def _cell_widths(edges: list[int], count: int) -> list[int]:
    """Cell widths in points from the row's \\cellx right edges (twips); zeros when they do not fit the row."""
    if len(edges) != count:
        return [0] * count
    widths, left = [], 0
    for edge in edges:
        widths.append(_clamp((edge - left) // 20, 0, 1000))
        left = edge
    return widths


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
