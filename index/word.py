"""A Word document (.docx) as a document: paragraphs, headings, list items and tables, read with python-docx.

Headings are the paragraphs styled "Heading 1" … (level 1, the others below it level 2); one styled
"Title" is the document's title and opens no section;
a list item (a "List …" style, or numbering) becomes a bullet ("• ", as for HTML lists); each table
cell with text becomes a paragraph of its own, row by row. Paragraphs are separated by a blank line, so
locators are the article's: "Section › Subsection, paragraph 2", "…, bullet 3".
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from index.errors import BadCorpusFile


@dataclass(frozen=True)
class WordText:
    text: str
    headings: list[list[int]]  # [offset, level] of each heading line
    title: str | None  # the document's own title (core properties), if it has one
    pages: None = None  # a Word file has no fixed pages


def _level(style: str) -> int | None:
    """1 for "Heading 1", 2 below it, 0 for the document's title (no section), None for body text."""
    if style == "Title":
        return 0
    match = re.fullmatch(r"Heading (\d)", style)
    return None if match is None else (1 if match.group(1) == "1" else 2)


def _is_list_item(paragraph) -> bool:
    style = paragraph.style.name if paragraph.style is not None else ""
    properties = paragraph._p.pPr  # numbering set on the paragraph itself
    return style.startswith("List") or (properties is not None and properties.numPr is not None)


def read_docx(path: Path) -> WordText:
    """The text of `path`; `BadCorpusFile` with one sentence for a file that is not a Word document."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BadCorpusFile(
            f"{path.name} cannot be read as a Word document (it is damaged or not .docx); it was skipped."
        ) from exc
    parts: list[str] = []
    headings: list[list[int]] = []
    at = 0

    def add(text: str, level: int | None = None) -> None:
        nonlocal at
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            return
        if level is not None:
            headings.append([at, level])
        parts.append(text)
        at += len(text) + 2

    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)
            style = paragraph.style.name if paragraph.style is not None else ""
            level = _level(style)
            if level is None and _is_list_item(paragraph) and paragraph.text.strip():
                add("• " + paragraph.text)
            else:
                add(paragraph.text, level)
        elif tag == "tbl":
            for row in Table(child, document).rows:
                seen = set()  # a merged cell comes back once per grid column it spans
                for cell in row.cells:
                    if id(cell._tc) not in seen:
                        seen.add(id(cell._tc))
                        add(cell.text)
    title = (document.core_properties.title or "").strip() or None
    return WordText("\n\n".join(parts), headings, title)
