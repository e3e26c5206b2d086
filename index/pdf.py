"""A PDF's text layer as a document: text in reading order, paragraphs, headings and pages.

pdfminer.six (MIT licence, pure Python, well kept) reads it: its layout analysis groups characters into
lines and lines into boxes, which are the paragraphs here, and gives every character's font size, from
which headings are found. pypdf reads text well but groups nothing into paragraphs; PyMuPDF is AGPL.

- Reading order: the boxes of a page top to bottom (pdfminer's order for one column).
- A word cut by a hyphen at a line's end is joined ("negoti-" + "ations" -> "negotiations"); the other
  line breaks of a paragraph become spaces.
- Running headers and footers are dropped: a line at the top or bottom of a page that recurs (digits
  aside) on at least half of the pages, two at least, and a line there that is only a page number.
- A heading is a short line set at least `HEADING_SIZE` times the body's font size; the largest such
  size is level 1, the others level 2. A first line set larger than every other heading is the
  document's title and opens no section.

The result, `PdfText`, holds the stored text (every offset points into it), where each page starts and
where each heading starts, so locators can say "page 4, paragraph 2" under the section's heading.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from index.errors import BadCorpusFile

HEADING_SIZE = 1.15  # a heading's font size, at least this times the body's
HEADING_WORDS = 20
EDGE = 0.12  # the top and bottom share of a page where running headers and footers stand
PAGE_NUMBER = re.compile(r"^(page\s+)?[\divxlc]{1,6}(\s*(/|of)\s*\d+)?$|^[-–—]\s*\d+\s*[-–—]$", re.IGNORECASE)
HYPHENATED = re.compile(r"[^\W\d_]-$")


@dataclass(frozen=True)
class PdfText:
    text: str
    pages: list[int]  # offset where each page's text starts
    headings: list[list[int]]  # [offset, level] of each heading line
    title: str | None  # the PDF's own title (document information), if it has one


@dataclass
class _Line:
    text: str
    size: float  # the most common font size of its characters
    top: float  # share of the page height from the top, 0..1
    bottom: float


def _pages(path: Path) -> tuple[list[list[list[_Line]]], str | None, bool]:
    """Per page, its boxes, each a list of lines; the document's title; whether any page holds an image."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTFigure, LTImage, LTTextContainer, LTTextLine

    pages, images = [], False
    for page in extract_pages(str(path), laparams=LAParams()):
        height = (page.height or 1.0) or 1.0
        boxes = []
        for element in page:
            if isinstance(element, LTFigure | LTImage):
                images = True
            if not isinstance(element, LTTextContainer):
                continue
            lines = []
            for line in element:
                if not isinstance(line, LTTextLine):
                    continue
                text = re.sub(r"\s+", " ", line.get_text()).strip()
                sizes = Counter(round(c.size, 1) for c in line if isinstance(c, LTChar))
                if text:
                    size = sizes.most_common(1)[0][0] if sizes else 0.0
                    lines.append(_Line(text, size, 1 - line.y1 / height, 1 - line.y0 / height))
            if lines:
                boxes.append(lines)
        boxes.sort(key=lambda b: b[0].top)
        pages.append(boxes)
    return pages, _title(path), images


def _title(path: Path) -> str | None:
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser

    with path.open("rb") as handle:
        info = PDFDocument(PDFParser(handle)).info
    for entry in info:
        raw = entry.get("Title")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-16") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")
        if isinstance(raw, str) and raw.strip():
            return raw.strip()
    return None


def _furniture(pages: list[list[list[_Line]]]) -> set[str]:
    """Lines that recur at a page's top or bottom on at least half the pages (two at least), digits aside."""
    seen = Counter()
    for boxes in pages:
        edge = {_shape(line.text) for box in boxes for line in box if line.top < EDGE or line.bottom > 1 - EDGE}
        seen.update(edge)
    needed = max(2, -(-len(pages) // 2))
    return {shape for shape, n in seen.items() if n >= needed}


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", text.lower())


def _join(lines: list[str]) -> str:
    """A paragraph's lines as one line: a hyphen that cuts a word at a line's end is dropped."""
    out = lines[0]
    for line in lines[1:]:
        if HYPHENATED.search(out) and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}"
    return out


def read_pdf(path: Path) -> PdfText:
    """The text of `path` (see the module's docstring); `BadCorpusFile` with one sentence for a PDF that
    is encrypted, damaged or has no text layer."""
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfpage import PDFTextExtractionNotAllowed

    name = path.name
    try:
        pages, title, images = _pages(path)
    except (PDFPasswordIncorrect, PDFEncryptionError, PDFTextExtractionNotAllowed) as exc:
        raise BadCorpusFile(
            f"{name} is encrypted; it was skipped (save a copy without a password and rebuild)."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many kinds for a damaged file
        raise BadCorpusFile(
            f"{name} cannot be read as a PDF (it is damaged: {exc.__class__.__name__}); it was skipped."
        ) from exc
    furniture = _furniture(pages)
    paragraphs_by_page: list[list[tuple[str, float]]] = []
    for boxes in pages:
        kept = []
        for box in boxes:
            lines = []
            for line in box:
                at_edge = line.top < EDGE or line.bottom > 1 - EDGE
                if at_edge and (_shape(line.text) in furniture or PAGE_NUMBER.match(line.text)):
                    continue
                lines.append(line)
            # A change of font size inside a box (a heading set close to its paragraph) starts a paragraph.
            run: list[_Line] = []
            for line in lines:
                if run and abs(line.size - run[-1].size) > 0.5:
                    kept.append((_join([r.text for r in run]), run[0].size))
                    run = []
                run.append(line)
            if run:
                kept.append((_join([r.text for r in run]), run[0].size))
        paragraphs_by_page.append(kept)
    sizes = Counter()
    for kept in paragraphs_by_page:
        for text, size in kept:
            sizes[size] += len(text)
    if not sizes:
        why = "it has no text layer (a scan?)" if images or pages else "it has no text"
        raise BadCorpusFile(f"{name} has no text to index: {why}; it was skipped (run it through OCR first).")
    body = sizes.most_common(1)[0][0]
    sizes_of_headings = [s for kept in paragraphs_by_page for t, s in kept if _is_heading(t, s, body)]
    heading_sizes = sorted(set(sizes_of_headings), reverse=True)
    # The first line is the document's title (no section) when it is set larger than every other heading.
    first = next((p[0] for p in paragraphs_by_page if p), None)
    titled = (
        first is not None
        and _is_heading(*first, body)
        and first[1] == heading_sizes[0]
        and sizes_of_headings.count(first[1]) == 1
    )
    parts, starts, headings, at = [], [], [], 0
    for kept in paragraphs_by_page:
        starts.append(at)
        for text, size in kept:
            if titled and at == 0:
                headings.append([0, 0])
            elif _is_heading(text, size, body):
                headings.append([at, 1 if size == heading_sizes[0] else 2])
            parts.append(text)
            at += len(text) + 2  # "\n\n" between paragraphs and between pages
    return PdfText("\n\n".join(parts), starts, headings, title)


def _is_heading(text: str, size: float, body: float) -> bool:
    return size >= HEADING_SIZE * body and len(text.split()) <= HEADING_WORDS and not text.endswith(".")
